/// SYSCALL/SYSRET in IA-32e mode and SYSENTER/SYSEXIT (Intel SDM Vol. 2B), as Intel CPUs
/// implement them.
public enum FastSystemCall {
    /// What SYSCALL leaves in the registers it writes.
    public struct SyscallResult: Hashable, Sendable {
        public let rip: UInt64
        public let rflags: UInt64
        /// The return address (the instruction after SYSCALL).
        public let rcx: UInt64
        /// RFLAGS before SYSCALL, RF cleared.
        public let r11: UInt64
    }

    /// SYSCALL: RCX ← next RIP, R11 ← RFLAGS, RFLAGS &= ~(IA32_FMASK | RF), CS and SS flat
    /// 64-bit CPL 0 segments from IA32_STAR[47:32], RIP ← IA32_LSTAR.
    /// - Throws: #UD unless EFER.SCE is set and the CPU is in 64-bit mode.
    public static func syscall(nextRIP: UInt64, rflags: UInt64, state: SystemState) throws(X86Exception) -> SyscallResult {
        guard state.efer & EFER.sce != 0, state.is64BitMode else { throw .invalidOpcode }
        let before = rflags & ~SystemFlags.rf
        let flags = (rflags & ~(state.sfmask | SystemFlags.rf)) | SystemFlags.fixed
        let base = UInt16(truncatingIfNeeded: state.star >> 32)
        state[.cs] = SegmentCache(selector: base & 0xFFFC, base: 0, limit: 0xFFFF_FFFF,
                                  attributes: .make(type: 0xB, dpl: 0, long: true, pageGranular: true))
        state[.ss] = SegmentCache(selector: (base &+ 8) & 0xFFFC, base: 0, limit: 0xFFFF_FFFF,
                                  attributes: .make(type: 3, dpl: 0, defaultBig: true, pageGranular: true))
        state.systemFlags = flags & InterruptDelivery.systemFlagBits
        return SyscallResult(rip: state.lstar, rflags: flags, rcx: nextRIP, r11: before)
    }

    /// SYSRET: RIP ← RCX (ECX without REX.W), RFLAGS ← (R11 & 0x3C7FD7) | 2, CS from
    /// IA32_STAR[63:48] (+16 for 64-bit code) and SS from IA32_STAR[63:48] + 8, both RPL 3.
    /// - Returns: the new RIP and RFLAGS.
    /// - Throws: #UD unless EFER.SCE is set and the CPU is in 64-bit mode; #GP(0) at CPL > 0,
    ///   and for a non-canonical RCX on a return to 64-bit code (Intel CPUs raise it at CPL 0,
    ///   before switching).
    public static func sysret(to64Bit: Bool, rcx: UInt64, r11: UInt64,
                              state: SystemState) throws(X86Exception) -> (rip: UInt64, rflags: UInt64) {
        guard state.efer & EFER.sce != 0, state.is64BitMode else { throw .invalidOpcode }
        try state.requireCPL0()
        if to64Bit && !SystemState.isCanonical(rcx) { throw .generalProtection(0) }
        let base = UInt16(truncatingIfNeeded: state.star >> 48)
        let flags = (r11 & 0x3C_7FD7) | SystemFlags.fixed
        if to64Bit {
            state[.cs] = SegmentCache(selector: (base &+ 16) | 3, base: 0, limit: 0xFFFF_FFFF,
                                      attributes: .make(type: 0xB, dpl: 3, long: true, pageGranular: true))
        } else {
            state[.cs] = SegmentCache(selector: base | 3, base: 0, limit: 0xFFFF_FFFF,
                                      attributes: .make(type: 0xB, dpl: 3, defaultBig: true, pageGranular: true))
        }
        state[.ss] = SegmentCache(selector: (base &+ 8) | 3, base: 0, limit: 0xFFFF_FFFF,
                                  attributes: .make(type: 3, dpl: 3, defaultBig: true, pageGranular: true))
        state.systemFlags = flags & InterruptDelivery.systemFlagBits
        return (to64Bit ? rcx : rcx & 0xFFFF_FFFF, flags)
    }

    /// SYSENTER (SDM Vol. 2B): CS from IA32_SYSENTER_CS (64-bit code in IA-32e mode, flat
    /// 32-bit code otherwise), SS = CS + 8, RIP and RSP from IA32_SYSENTER_EIP/ESP, CPL 0, and
    /// VM, IF and RF cleared.
    /// - Returns: the new RIP, RSP and RFLAGS.
    /// - Throws: #GP(0) in real mode or when IA32_SYSENTER_CS[15:2] is 0.
    public static func sysenter(rflags: UInt64, state: SystemState) throws(X86Exception) -> (rip: UInt64, rsp: UInt64, rflags: UInt64) {
        guard state.isProtected, state.sysenterCS & 0xFFFC != 0 else { throw .generalProtection(0) }
        let selector = UInt16(truncatingIfNeeded: state.sysenterCS) & 0xFFFC
        let long = state.isLongModeActive
        state[.cs] = SegmentCache(selector: selector, base: 0, limit: 0xFFFF_FFFF,
                                  attributes: .make(type: 0xB, dpl: 0, long: long, defaultBig: !long, pageGranular: true))
        state[.ss] = SegmentCache(selector: selector &+ 8, base: 0, limit: 0xFFFF_FFFF,
                                  attributes: .make(type: 3, dpl: 0, defaultBig: true, pageGranular: true))
        let flags = (rflags & ~(SystemFlags.vm | SystemFlags.if | SystemFlags.rf)) | SystemFlags.fixed
        state.systemFlags = flags & InterruptDelivery.systemFlagBits
        let mask: UInt64 = long ? .max : 0xFFFF_FFFF
        return (state.sysenterEIP & mask, state.sysenterESP & mask, flags)
    }

    /// SYSEXIT (SDM Vol. 2B): back to CPL 3 with RIP ← RDX and RSP ← RCX; with REX.W to 64-bit
    /// code (CS = IA32_SYSENTER_CS + 32, SS = + 40), else to flat 32-bit code (+ 16, + 24).
    /// - Throws: #GP(0) in real mode, at CPL > 0, when IA32_SYSENTER_CS[15:2] is 0, and for a
    ///   non-canonical RDX or RCX on a return to 64-bit code.
    public static func sysexit(to64Bit: Bool, rcx: UInt64, rdx: UInt64,
                               state: SystemState) throws(X86Exception) -> (rip: UInt64, rsp: UInt64) {
        guard state.isProtected, state.sysenterCS & 0xFFFC != 0 else { throw .generalProtection(0) }
        try state.requireCPL0()
        let base = UInt16(truncatingIfNeeded: state.sysenterCS)
        if to64Bit {
            guard SystemState.isCanonical(rdx), SystemState.isCanonical(rcx) else { throw .generalProtection(0) }
        }
        state[.cs] = SegmentCache(selector: (base &+ (to64Bit ? 32 : 16)) | 3, base: 0, limit: 0xFFFF_FFFF,
                                  attributes: .make(type: 0xB, dpl: 3, long: to64Bit, defaultBig: !to64Bit, pageGranular: true))
        state[.ss] = SegmentCache(selector: (base &+ (to64Bit ? 40 : 24)) | 3, base: 0, limit: 0xFFFF_FFFF,
                                  attributes: .make(type: 3, dpl: 3, defaultBig: true, pageGranular: true))
        return to64Bit ? (rdx, rcx) : (rdx & 0xFFFF_FFFF, rcx & 0xFFFF_FFFF)
    }
}
