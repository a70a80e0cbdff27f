/// An x86 exception vector (Intel SDM Vol. 3A §6.3.1, Table 6-1).
public struct ExceptionVector: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    /// The vector numbered `rawValue`.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let divideError = ExceptionVector(rawValue: 0)
    public static let debug = ExceptionVector(rawValue: 1)
    public static let nmi = ExceptionVector(rawValue: 2)
    public static let breakpoint = ExceptionVector(rawValue: 3)
    public static let overflow = ExceptionVector(rawValue: 4)
    public static let boundRange = ExceptionVector(rawValue: 5)
    public static let invalidOpcode = ExceptionVector(rawValue: 6)
    public static let deviceNotAvailable = ExceptionVector(rawValue: 7)
    public static let doubleFault = ExceptionVector(rawValue: 8)
    public static let invalidTSS = ExceptionVector(rawValue: 10)
    public static let segmentNotPresent = ExceptionVector(rawValue: 11)
    public static let stackFault = ExceptionVector(rawValue: 12)
    public static let generalProtection = ExceptionVector(rawValue: 13)
    public static let pageFault = ExceptionVector(rawValue: 14)
    public static let x87FloatingPoint = ExceptionVector(rawValue: 16)
    public static let alignmentCheck = ExceptionVector(rawValue: 17)
    public static let machineCheck = ExceptionVector(rawValue: 18)
    public static let simdFloatingPoint = ExceptionVector(rawValue: 19)

    /// Whether delivering this exception pushes an error code (#DF, #TS, #NP, #SS, #GP, #PF, #AC).
    public var pushesErrorCode: Bool {
        switch rawValue {
        case 8, 10, 11, 12, 13, 14, 17: return true
        default: return false
        }
    }

    /// Whether the error code has the selector format (EXT, IDT, TI, index: SDM §6.13), the
    /// one that takes the EXT bit.
    public var hasSelectorErrorCode: Bool { (10...13).contains(rawValue) }

    /// The class that decides whether a second exception during delivery becomes #DF
    /// (SDM §6.15, Table 6-4 under "Interrupt 8—Double Fault Exception").
    public var escalationClass: ExceptionClass {
        switch rawValue {
        case 0, 10, 11, 12, 13: return .contributory
        case 14: return .pageFault
        case 8: return .doubleFault
        default: return .benign
        }
    }

    /// The SDM's mnemonic (#GP, #PF, …) and, where it applies, error code and address.
    public var description: String {
        let names: [UInt8: String] = [0: "#DE", 1: "#DB", 2: "NMI", 3: "#BP", 4: "#OF", 5: "#BR", 6: "#UD",
                                      7: "#NM", 8: "#DF", 10: "#TS", 11: "#NP", 12: "#SS", 13: "#GP",
                                      14: "#PF", 16: "#MF", 17: "#AC", 18: "#MC", 19: "#XM"]
        return names[rawValue] ?? "vector \(rawValue)"
    }
}

/// The SDM's exception classes for double-fault escalation.
public enum ExceptionClass: Sendable, Equatable {
    /// Handled serially after the first one (most exceptions, NMI, interrupts).
    case benign
    /// #DE, #TS, #NP, #SS, #GP.
    case contributory
    /// #PF.
    case pageFault
    /// #DF itself: any contributory or page fault while delivering it shuts the CPU down.
    case doubleFault
}

/// An exception the CPU raises, as a value: vector, error code (for the vectors that push one)
/// and, for #PF, the faulting linear address that becomes CR2 when it is delivered.
///
/// Every check in system mode reports a guest fault by throwing one of these; nothing a guest
/// does makes a host trap.
public struct X86Exception: Error, Hashable, Sendable, CustomStringConvertible {
    /// Which exception.
    public let vector: ExceptionVector
    /// The error code pushed on delivery; 0 for vectors that push none.
    public let errorCode: UInt32
    /// For #PF, the linear address that faulted (CR2); 0 otherwise.
    public let faultAddress: UInt64

    /// An exception; `errorCode` is kept only for vectors that push one.
    public init(_ vector: ExceptionVector, errorCode: UInt32 = 0, faultAddress: UInt64 = 0) {
        self.vector = vector
        self.errorCode = vector.pushesErrorCode ? errorCode : 0
        self.faultAddress = vector == .pageFault ? faultAddress : 0
    }

    /// #GP with `errorCode` (0 for most checks, a selector error code for descriptor checks).
    public static func generalProtection(_ errorCode: UInt32 = 0) -> X86Exception {
        X86Exception(.generalProtection, errorCode: errorCode)
    }
    /// #SS with `errorCode`.
    public static func stackFault(_ errorCode: UInt32 = 0) -> X86Exception { X86Exception(.stackFault, errorCode: errorCode) }
    /// #NP with `errorCode`.
    public static func segmentNotPresent(_ errorCode: UInt32) -> X86Exception {
        X86Exception(.segmentNotPresent, errorCode: errorCode)
    }
    /// #TS with `errorCode`.
    public static func invalidTSS(_ errorCode: UInt32) -> X86Exception { X86Exception(.invalidTSS, errorCode: errorCode) }
    /// #PF at `address` with the page-fault error code `errorCode` (SDM §4.7).
    public static func pageFault(address: UInt64, errorCode: PageFaultErrorCode) -> X86Exception {
        X86Exception(.pageFault, errorCode: errorCode.rawValue, faultAddress: address)
    }
    /// #UD.
    public static let invalidOpcode = X86Exception(.invalidOpcode)
    /// #DF (error code 0).
    public static let doubleFault = X86Exception(.doubleFault, errorCode: 0)

    /// The selector-format error code for a descriptor check on `selector` (SDM §6.13): the
    /// selector's index and TI bit, RPL cleared.
    public static func selectorErrorCode(_ selector: UInt16) -> UInt32 { UInt32(selector & 0xFFFC) }

    /// The selector-format error code naming IDT entry `vector` (IDT bit set).
    public static func idtErrorCode(_ vector: UInt8) -> UInt32 { UInt32(vector) << 3 | 2 }

    /// This exception with the EXT bit (bit 0) set in a selector-format error code: what the
    /// CPU reports when the fault arose while delivering an external event or another
    /// exception (SDM §6.13). Other exceptions are returned unchanged.
    public func markedExternal() -> X86Exception {
        guard vector.hasSelectorErrorCode else { return self }
        return X86Exception(vector, errorCode: errorCode | 1, faultAddress: faultAddress)
    }

    /// The SDM's mnemonic (#GP, #PF, …) and, where it applies, error code and address.
    public var description: String {
        var text = vector.description
        if vector.pushesErrorCode { text += "(0x\(String(errorCode, radix: 16)))" }
        if vector == .pageFault { text += " at 0x\(String(faultAddress, radix: 16))" }
        return text
    }
}

/// The page-fault error code (SDM Vol. 3A §4.7, Figure 4-12).
public struct PageFaultErrorCode: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    /// An error code from its raw bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// P: the fault was a protection violation on a present page (clear: a non-present page).
    public static let present = PageFaultErrorCode(rawValue: 1 << 0)
    /// W/R: the access was a write.
    public static let write = PageFaultErrorCode(rawValue: 1 << 1)
    /// U/S: a user-mode access (CPL 3, not an implicit supervisor access).
    public static let user = PageFaultErrorCode(rawValue: 1 << 2)
    /// RSVD: a reserved bit was set in a paging-structure entry.
    public static let reservedBit = PageFaultErrorCode(rawValue: 1 << 3)
    /// I/D: an instruction fetch (reported only with EFER.NXE and PAE-type paging).
    public static let instructionFetch = PageFaultErrorCode(rawValue: 1 << 4)
}
