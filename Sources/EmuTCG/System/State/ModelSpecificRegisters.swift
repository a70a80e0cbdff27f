import EmuCore

/// The MSR indices this CPU implements (Intel SDM Vol. 4, Table 2-2).
public enum MSRIndex {
    public static let timestampCounter: UInt32 = 0x10
    public static let apicBase: UInt32 = 0x1B
    public static let microcodeRevision: UInt32 = 0x8B
    public static let mtrrCapabilities: UInt32 = 0xFE
    public static let archCapabilities: UInt32 = 0x10A
    public static let sysenterCS: UInt32 = 0x174
    public static let sysenterESP: UInt32 = 0x175
    public static let sysenterEIP: UInt32 = 0x176
    public static let miscEnable: UInt32 = 0x1A0
    public static let mtrrPhysBase0: UInt32 = 0x200
    public static let pat: UInt32 = 0x277
    public static let mtrrDefaultType: UInt32 = 0x2FF
    public static let tscDeadline: UInt32 = 0x6E0
    public static let efer: UInt32 = 0xC000_0080
    public static let star: UInt32 = 0xC000_0081
    public static let lstar: UInt32 = 0xC000_0082
    public static let cstar: UInt32 = 0xC000_0083
    public static let sfmask: UInt32 = 0xC000_0084
    public static let fsBase: UInt32 = 0xC000_0100
    public static let gsBase: UInt32 = 0xC000_0101
    public static let kernelGSBase: UInt32 = 0xC000_0102
    public static let tscAux: UInt32 = 0xC000_0103
}

/// IA32_ARCH_CAPABILITIES bits (Intel SDM Vol. 4 Table 2-2; Linux `msr-index.h` names).
public enum ArchCapabilities {
    public static let rdclNo: UInt64 = 1 << 0
    public static let ssbNo: UInt64 = 1 << 4
    public static let mdsNo: UInt64 = 1 << 5
    public static let taaNo: UInt64 = 1 << 8
    public static let sbdrSsdpNo: UInt64 = 1 << 13
    public static let fbsdpNo: UInt64 = 1 << 14
    public static let psdpNo: UInt64 = 1 << 15
    public static let bhiNo: UInt64 = 1 << 20
    public static let pbrsbNo: UInt64 = 1 << 24
    public static let gdsNo: UInt64 = 1 << 26
    public static let rfdsNo: UInt64 = 1 << 27
    /// What this CPU reports: immune to every listed speculative-execution attack (an emulated
    /// CPU does not speculate across privilege checks), and nothing that needs further MSRs
    /// (no IBRS_ALL, TSX_CTRL, FB_CLEAR).
    public static let reported: UInt64 = rdclNo | ssbNo | mdsNo | taaNo | sbdrSsdpNo | fbsdpNo | psdpNo
        | bhiNo | pbrsbNo | gdsNo | rfdsNo
}

extension SystemState {
    /// IA32_MTRRCAP: VCNT variable ranges, no fixed ranges, write-combining supported.
    public static let mtrrCapabilities: UInt64 = UInt64(variableMTRRCount) | 1 << 10
    /// The microcode revision IA32_BIOS_SIGN_ID reports in bits 63:32.
    public static let microcodeRevision: UInt64 = 1

    /// This CPU's TSC now: the time base's counter plus the CPU's offset.
    public var timestampCounterValue: UInt64 { timestampCounter.now &+ tscOffset }

    /// RDMSR (SDM Vol. 2B).
    /// - Throws: #GP(0) at CPL > 0 or for an MSR this CPU does not implement (as on a CPU
    ///   without it). Reads of controller-owned MSRs (APIC base, TSC deadline) go to the
    ///   interrupt controller; without one they are #GP.
    public func readMSR(_ index: UInt32) throws(X86Exception) -> UInt64 {
        try requireCPL0()
        switch index {
        case MSRIndex.timestampCounter: return timestampCounterValue
        case MSRIndex.microcodeRevision: return Self.microcodeRevision << 32
        case MSRIndex.mtrrCapabilities: return Self.mtrrCapabilities
        case MSRIndex.archCapabilities: return ArchCapabilities.reported
        case MSRIndex.sysenterCS: return sysenterCS
        case MSRIndex.sysenterESP: return sysenterESP
        case MSRIndex.sysenterEIP: return sysenterEIP
        case MSRIndex.miscEnable: return miscEnable
        case MSRIndex.pat: return pat
        case MSRIndex.mtrrDefaultType: return mtrrDefaultType
        case MSRIndex.mtrrPhysBase0..<MSRIndex.mtrrPhysBase0 + UInt32(2 * Self.variableMTRRCount):
            return mtrrVariable[Int(index - MSRIndex.mtrrPhysBase0)]
        case MSRIndex.efer: return efer
        case MSRIndex.star: return star
        case MSRIndex.lstar: return lstar
        case MSRIndex.cstar: return cstar
        case MSRIndex.sfmask: return sfmask
        case MSRIndex.fsBase: return self[.fs].base
        case MSRIndex.gsBase: return self[.gs].base
        case MSRIndex.kernelGSBase: return kernelGSBase
        case MSRIndex.tscAux: return tscAux
        default:
            if let value = interruptController?.readMSR(index) { return value }
            throw .generalProtection(0)
        }
    }

    /// WRMSR (SDM Vol. 2B) with each MSR's reserved-bit and canonical checks.
    /// - Throws: #GP(0) at CPL > 0, for an MSR this CPU does not implement or that is read-only
    ///   (MTRRCAP, ARCH_CAPABILITIES), for reserved bits, for a non-canonical address in an
    ///   address MSR, for an invalid PAT or MTRR memory type, and when the interrupt
    ///   controller refuses a value. Nothing changes then.
    /// - Returns: what the caller must do (TLB flush done, FS/GS base changed, …).
    @discardableResult
    public func writeMSR(_ index: UInt32, _ value: UInt64) throws(X86Exception) -> SystemStateEffects {
        try requireCPL0()
        func canonical(_ v: UInt64) throws(X86Exception) -> UInt64 {
            guard Self.isCanonical(v) else { throw .generalProtection(0) }
            return v
        }
        switch index {
        case MSRIndex.timestampCounter:
            tscOffset = value &- timestampCounter.now
        case MSRIndex.microcodeRevision:
            break  // Writing 0 before CPUID is how software asks for the revision.
        case MSRIndex.sysenterCS: sysenterCS = value & 0xFFFF_FFFF
        case MSRIndex.sysenterESP: sysenterESP = try canonical(value)
        case MSRIndex.sysenterEIP: sysenterEIP = try canonical(value)
        case MSRIndex.miscEnable:
            miscEnable = value
        case MSRIndex.pat:
            guard Self.isValidPAT(value) else { throw .generalProtection(0) }
            pat = value
        case MSRIndex.mtrrDefaultType:
            guard value & ~0xCFF == 0, Self.isValidMTRRType(UInt8(value & 0xFF)) else { throw .generalProtection(0) }
            mtrrDefaultType = value
        case MSRIndex.mtrrPhysBase0..<MSRIndex.mtrrPhysBase0 + UInt32(2 * Self.variableMTRRCount):
            let slot = Int(index - MSRIndex.mtrrPhysBase0)
            let isMask = slot & 1 == 1
            // PHYSBASE: type 7:0, base MAXPHYADDR-1:12; PHYSMASK: valid 11, mask MAXPHYADDR-1:12.
            let allowed = (features.physicalAddressMask & ~0xFFF) | (isMask ? 0x800 : 0xFF)
            guard value & ~allowed == 0 else { throw .generalProtection(0) }
            if !isMask && !Self.isValidMTRRType(UInt8(value & 0xFF)) { throw .generalProtection(0) }
            mtrrVariable[slot] = value
        case MSRIndex.efer:
            return try writeEFER(value)
        case MSRIndex.star: star = value
        case MSRIndex.lstar: lstar = try canonical(value)
        case MSRIndex.cstar: cstar = try canonical(value)
        case MSRIndex.sfmask:
            guard value >> 32 == 0 else { throw .generalProtection(0) }
            sfmask = value
        case MSRIndex.fsBase:
            segments[SegmentRegister.fs.rawValue].base = try canonical(value)
            return .segmentBasesChanged
        case MSRIndex.gsBase:
            segments[SegmentRegister.gs.rawValue].base = try canonical(value)
            return .segmentBasesChanged
        case MSRIndex.kernelGSBase: kernelGSBase = try canonical(value)
        case MSRIndex.tscAux:
            guard value >> 32 == 0 else { throw .generalProtection(0) }
            tscAux = value
        default:
            guard let controller = interruptController, controller.writeMSR(index, value: value) else {
                throw .generalProtection(0)
            }
            return .checkInterrupts
        }
        return []
    }

    /// Memory types valid in MTRRs: UC 0, WC 1, WT 4, WP 5, WB 6.
    static func isValidMTRRType(_ type: UInt8) -> Bool { [0, 1, 4, 5, 6].contains(type) }

    /// Each PAT entry a valid type (UC 0, WC 1, WT 4, WP 5, WB 6, UC- 7) in bits 2:0, bits 7:3 zero.
    static func isValidPAT(_ value: UInt64) -> Bool {
        (0..<8).allSatisfy { i in
            let entry = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))
            return [0, 1, 4, 5, 6, 7].contains(entry)
        }
    }
}
