/// The kind of a linear memory access.
public enum AccessKind: Sendable, Hashable {
    case read
    case write
    /// An instruction fetch.
    case fetch
}

/// One linear memory access as the paging checks see it (Intel SDM Vol. 3A §4.6).
public struct AccessIntent: Hashable, Sendable {
    /// Read, write or fetch.
    public var kind: AccessKind
    /// An implicit supervisor-mode access (GDT, LDT, IDT and TSS reads, the accessed and busy
    /// bits, the stack of an interrupt handler at CPL 0): a supervisor access whatever the CPL.
    public var isImplicitSupervisor: Bool
    /// A reference through SS: a non-canonical address gives #SS(0) instead of #GP(0).
    public var isStack: Bool

    /// An access of `kind`; implicit supervisor and stack references as flagged.
    public init(_ kind: AccessKind, implicitSupervisor: Bool = false, stack: Bool = false) {
        self.kind = kind
        isImplicitSupervisor = implicitSupervisor
        isStack = stack
    }

    /// A data read at the current privilege level.
    public static let read = AccessIntent(.read)
    /// A data write at the current privilege level.
    public static let write = AccessIntent(.write)
    /// An instruction fetch at the current privilege level.
    public static let fetch = AccessIntent(.fetch)
    /// A stack read at the current privilege level.
    public static let stackRead = AccessIntent(.read, stack: true)
    /// A stack write at the current privilege level.
    public static let stackWrite = AccessIntent(.write, stack: true)
    /// An implicit supervisor read (descriptor tables, TSS).
    public static let systemRead = AccessIntent(.read, implicitSupervisor: true)
    /// An implicit supervisor write (accessed and busy bits).
    public static let systemWrite = AccessIntent(.write, implicitSupervisor: true)
}

/// Linear memory as system-mode operations use it: every access is translated (paging,
/// canonical checks) and may fault. ``SystemMMU`` is the implementation; descriptor loads,
/// interrupt delivery and IRET are written against this protocol.
public protocol LinearMemory: AnyObject {
    /// Reads `size` (1, 2, 4 or 8) bytes at `address`, little-endian.
    /// - Throws: #PF, #GP(0) or #SS(0) (non-canonical) as the access would raise.
    func read(_ address: UInt64, size: Int, _ intent: AccessIntent) throws(X86Exception) -> UInt64
    /// Writes the low `size` (1, 2, 4 or 8) bytes of `value` at `address`. An access that
    /// faults writes nothing.
    /// - Throws: as ``read(_:size:_:)``.
    func write(_ address: UInt64, size: Int, value: UInt64, _ intent: AccessIntent) throws(X86Exception)
}
