/// The read-modify-write a LOCK-prefixed instruction (or XCHG with memory) performs atomically
/// on guest memory. The helper returns the memory's old value; the IR computes the result and
/// the flags from it, so the flags match what was stored.
public enum AtomicOperation: UInt8, Sendable, Equatable {
    /// memory += operand (ADD, SUB as + −s, INC/DEC as ±1, ADC/SBB with the carry folded in, XADD).
    case add
    /// memory &= operand (AND, BTR with the inverted bit mask).
    case and
    /// memory |= operand (OR, BTS).
    case or
    /// memory ^= operand (XOR, NOT as ^ all-ones, BTC).
    case xor
    /// memory = −memory (NEG).
    case negate
    /// memory = operand (XCHG).
    case exchange
    /// memory = operand when memory == expected (CMPXCHG, CMPXCHG8B); args [address, expected,
    /// operand].
    case compareExchange
}
