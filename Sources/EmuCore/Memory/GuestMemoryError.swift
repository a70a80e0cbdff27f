/// Why a ``GuestMemory`` access was refused. Every case carries the guest address concerned
/// (for range problems, the first offending byte). Guest-supplied addresses and lengths only
/// ever produce these values, never a trap.
public enum GuestMemoryError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The access asked for zero bytes.
    case zeroLength(address: UInt64)
    /// `address + length - 1` does not fit in 64 bits.
    case overflow(address: UInt64, length: UInt64)
    /// The length cannot be represented on the host (more than `Int.max` bytes).
    case tooLarge(address: UInt64, length: UInt64)
    /// Nothing is mapped at `address`.
    case unmapped(address: UInt64)
    /// `address` is mapped, but not to RAM or ROM (a device: MMIO).
    case notRAM(address: UInt64)
    /// A write (or writable mapping) reached read-only memory (ROM) at `address`.
    case readOnly(address: UInt64)

    /// The guest address the error concerns.
    public var address: UInt64 {
        switch self {
        case .zeroLength(let a), .overflow(let a, _), .tooLarge(let a, _), .unmapped(let a),
             .notRAM(let a), .readOnly(let a):
            return a
        }
    }

    public var description: String {
        switch self {
        case .zeroLength(let a): return "zero-length guest access at 0x\(String(a, radix: 16))"
        case .overflow(let a, let l):
            return "guest range of \(l) bytes at 0x\(String(a, radix: 16)) overflows the address space"
        case .tooLarge(let a, let l): return "guest range of \(l) bytes at 0x\(String(a, radix: 16)) is too large"
        case .unmapped(let a): return "nothing mapped at guest address 0x\(String(a, radix: 16))"
        case .notRAM(let a): return "guest address 0x\(String(a, radix: 16)) is not RAM"
        case .readOnly(let a): return "guest address 0x\(String(a, radix: 16)) is read-only"
        }
    }
}
