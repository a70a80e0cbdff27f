/// A set of the 256 interrupt vectors, as the local APIC's IRR, ISR and TMR hold them.
struct APICVectorSet: Sendable, Equatable {
    private var words: [UInt64] = [0, 0, 0, 0]

    /// Whether `vector` is in the set.
    func contains(_ vector: UInt8) -> Bool {
        words[Int(vector >> 6)] & (1 << UInt64(vector & 63)) != 0
    }

    /// Adds `vector`.
    mutating func insert(_ vector: UInt8) {
        words[Int(vector >> 6)] |= 1 << UInt64(vector & 63)
    }

    /// Removes `vector`.
    mutating func remove(_ vector: UInt8) {
        words[Int(vector >> 6)] &= ~(1 << UInt64(vector & 63))
    }

    /// Adds or removes `vector`.
    mutating func set(_ vector: UInt8, _ member: Bool) {
        if member { insert(vector) } else { remove(vector) }
    }

    /// The highest vector in the set.
    var highest: UInt8? {
        for index in stride(from: 3, through: 0, by: -1) where words[index] != 0 {
            return UInt8(index * 64 + 63 - words[index].leadingZeroBitCount)
        }
        return nil
    }

    /// Empties the set.
    mutating func removeAll() { words = [0, 0, 0, 0] }

    /// The 32-bit register `index` (0–7) of the set's MMIO view: vectors `32*index ..< 32*index+32`.
    func register(_ index: Int) -> UInt32 {
        guard (0..<8).contains(index) else { return 0 }
        return UInt32(truncatingIfNeeded: words[index / 2] >> UInt64(32 * (index % 2)))
    }
}
