/// One decoded x86-64 instruction.
public struct Instruction: Sendable, Equatable {
    /// Guest address of its first byte.
    public var address: UInt64
    /// Length in bytes (1 … 15).
    public var length: Int
    public var mnemonic: Mnemonic
    /// Operand size in bytes: 1, 2, 4 or 8 for integer operations, 16 for 128-bit ones.
    public var operandSize: Int
    /// Operands, destination first (Intel order).
    public var operands: [Operand]
    /// Condition code 0 … 15 for Jcc, SETcc, CMOVcc.
    public var condition: UInt8
    public var prefixes: Prefixes
    /// Size in bytes of the source operand when it differs from `operandSize` (MOVZX, MOVSX,
    /// MOVSXD); otherwise equal to `operandSize`.
    public var sourceSize: Int

    /// The address of the next instruction.
    public var nextAddress: UInt64 { address &+ UInt64(length) }
}

/// Why a byte sequence did not decode.
public enum DecodeError: Error, Sendable, Equatable {
    /// An undefined or unimplemented encoding at this address (#UD for the guest).
    case invalidOpcode(address: UInt64)
    /// An instruction byte could not be fetched (the guest gets a page fault at `address`,
    /// the byte that failed).
    case fetchFault(address: UInt64)
}
