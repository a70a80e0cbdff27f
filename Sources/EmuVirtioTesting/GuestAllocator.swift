/// First-fit allocation of guest addresses inside one range, for a test driver's rings and
/// buffers. Freed ranges merge with their neighbours.
public struct GuestAllocator: Sendable {
    /// Free ranges, sorted and not touching.
    private var free: [Range<UInt64>]

    /// Manages `area` (empty ranges allocate nothing).
    public init(area: Range<UInt64>) {
        free = area.isEmpty ? [] : [area]
    }

    /// Bytes not allocated.
    public var freeBytes: UInt64 { free.reduce(0) { $0 + ($1.upperBound - $1.lowerBound) } }

    /// Takes `length` bytes aligned to `alignment` (a power of two); `nil` if no free range fits.
    public mutating func allocate(_ length: UInt64, alignment: UInt64 = 8) -> Range<UInt64>? {
        guard length > 0 else { return nil }
        for (i, range) in free.enumerated() {
            let start = (range.lowerBound + alignment - 1) & ~(alignment - 1)
            guard start >= range.lowerBound, start <= range.upperBound, range.upperBound - start >= length else { continue }
            let taken = start..<start + length
            var replacement: [Range<UInt64>] = []
            if range.lowerBound < start { replacement.append(range.lowerBound..<start) }
            if taken.upperBound < range.upperBound { replacement.append(taken.upperBound..<range.upperBound) }
            free.replaceSubrange(i...i, with: replacement)
            return taken
        }
        return nil
    }

    /// Returns a range from ``allocate(_:alignment:)``.
    public mutating func release(_ range: Range<UInt64>) {
        guard !range.isEmpty else { return }
        let i = free.firstIndex { $0.lowerBound >= range.upperBound } ?? free.endIndex
        free.insert(range, at: i)
        if i + 1 < free.count, free[i].upperBound == free[i + 1].lowerBound {
            free[i] = free[i].lowerBound..<free[i + 1].upperBound
            free.remove(at: i + 1)
        }
        if i > 0, free[i - 1].upperBound == free[i].lowerBound {
            free[i - 1] = free[i - 1].lowerBound..<free[i].upperBound
            free.remove(at: i)
        }
    }
}
