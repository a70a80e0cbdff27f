/// One piece of a flattened address space: guest addresses `[start, start+size)` go to the leaf
/// `region` at offsets `[offsetInRegion, offsetInRegion+size)`.
public struct FlatRange: Sendable {
    /// Where the leaf's resolved target is reached.
    enum Target: Sendable {
        case ram(RAMBlock)
        case rom(RAMBlock)
        case mmio(any MMIOHandler)
    }

    /// First guest address.
    public let start: UInt64
    /// Length in bytes (> 0). `start + size` never overflows.
    public let size: UInt64
    /// The leaf (RAM, ROM or MMIO) region that answers (aliases are already resolved).
    public let region: MemoryRegion
    /// Offset within `region` of the byte at `start`.
    public let offsetInRegion: UInt64
    let target: Target

    /// One past the last guest address.
    public var end: UInt64 { start + size }

    /// Whether guest addresses in this range are backed by RAM (writable) memory.
    public var isRAM: Bool { if case .ram = target { true } else { false } }
    /// Whether guest addresses in this range are ROM.
    public var isROM: Bool { if case .rom = target { true } else { false } }
    /// Whether guest addresses in this range go to a device model.
    public var isMMIO: Bool { if case .mmio = target { true } else { false } }
}

/// An immutable, sorted list of non-overlapping ``FlatRange``s: what an ``AddressSpace`` looks
/// like after resolving containers, aliases, priorities and enablement. Built whenever the
/// topology changes; lookups are binary searches (O(log n)).
public final class FlatView: Sendable {
    /// The ranges, sorted by `start`, non-overlapping. Adjacent pieces of the same leaf with
    /// contiguous offsets are merged.
    public let ranges: [FlatRange]
    /// `ranges[i].start` and `ranges[i].end`, contiguous so a lookup touches only plain
    /// integers (no reference counting, cache-friendly binary search).
    let starts: [UInt64]
    let ends: [UInt64]
    /// Counts rebuilds of the owning address space (1 for its first view).
    public let generation: UInt64
    /// Problems met while flattening (alias cycles, excessive nesting); those parts are left
    /// unassigned.
    public let problems: [String]

    init(ranges: [FlatRange], generation: UInt64, problems: [String]) {
        self.ranges = ranges
        self.starts = ranges.map(\.start)
        self.ends = ranges.map(\.end)
        self.generation = generation
        self.problems = problems
    }

    static let empty = FlatView(ranges: [], generation: 0, problems: [])

    /// Index of the first range whose start is > `address`.
    @inline(__always)
    func upperBound(_ address: UInt64) -> Int {
        starts.withUnsafeBufferPointer { s in
            var lo = 0
            var hi = s.count
            while lo < hi {
                let mid = (lo &+ hi) >> 1
                if s[mid] <= address { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }
    }

    /// Index of the range containing `address`, if any.
    @inline(__always)
    func index(containing address: UInt64) -> Int? {
        let i = upperBound(address) - 1
        guard i >= 0 else { return nil }
        return ends.withUnsafeBufferPointer { address < $0[i] } ? i : nil
    }

    /// The range containing `address`, or `nil` when the address is unassigned.
    public func lookup(_ address: UInt64) -> FlatRange? {
        index(containing: address).map { ranges[$0] }
    }

    /// The piece of `[address, address+limit)` starting at `address` that one range (or one
    /// gap) covers: the range's index (nil in a gap) and the piece length (1...limit).
    /// Requires `limit >= 1`.
    @inline(__always)
    func segment(at address: UInt64, limit: UInt64) -> (index: Int?, length: UInt64) {
        let next = upperBound(address)
        let i = next - 1
        if i >= 0 {
            let end = ends[i]
            if address < end { return (i, min(limit, end - address)) }
        }
        if next < starts.count { return (nil, min(limit, starts[next] - address)) }
        return (nil, limit)
    }

    /// A textual dump in the style of QEMU's `info mtree -f`.
    public func describe(name: String = "") -> String {
        var out = "FlatView #\(generation)\(name.isEmpty ? "" : " AS \"\(name)\"")\n"
        if ranges.isEmpty { out += "  (no ranges)\n" }
        for r in ranges {
            let kind = switch r.target { case .ram: "ram"; case .rom: "rom"; case .mmio: "i/o" }
            out += "  \(hex16(r.start))-\(hex16(r.end - 1)) (prio \(r.region._priorityForDump), \(kind)): \(r.region.name)"
            if r.offsetInRegion != 0 { out += " @\(hex16(r.offsetInRegion))" }
            out += "\n"
        }
        for p in problems { out += "  ! \(p)\n" }
        return out
    }
}

@inline(__always)
func hex16(_ v: UInt64) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: max(0, 16 - s.count)) + s
}

extension MemoryRegion {
    var _priorityForDump: Int { Topology.withLock { _ in _priority } }
}

/// Builds a ``FlatView`` from a region tree. Runs with the topology lock held.
struct Flattener {
    /// Alias + container nesting deeper than this is reported and ignored.
    static let maxDepth = 64

    private(set) var ranges: [FlatRange] = []
    private(set) var visited: Set<ObjectIdentifier> = []
    private(set) var problems: [String] = []
    private var path: [ObjectIdentifier] = []

    /// Flattens `root`, showing its offsets `[0, min(root.size, limit))` at guest address 0.
    static func flatten(root: MemoryRegion, limit: UInt64, generation: UInt64) -> (FlatView, Set<ObjectIdentifier>) {
        var f = Flattener()
        f.render(root, address: 0, regionOffset: 0, length: min(root.size, limit), depth: 0)
        f.merge()
        return (FlatView(ranges: f.ranges, generation: generation, problems: f.problems), f.visited)
    }

    /// Shows `region`'s offsets `[regionOffset, regionOffset+length)` at `[address, address+length)`,
    /// filling only what higher-priority content has not already claimed.
    /// Requires `regionOffset + length <= region.size`.
    private mutating func render(_ region: MemoryRegion, address: UInt64, regionOffset: UInt64,
                                 length: UInt64, depth: Int) {
        let id = ObjectIdentifier(region)
        visited.insert(id)
        guard region._enabled, length > 0 else { return }
        guard depth < Self.maxDepth else {
            problems.append("nesting deeper than \(Self.maxDepth) at '\(region.name)'; ignored")
            return
        }
        switch region.kind {
        case .ram(let b):
            paint(address, length, region, regionOffset, .ram(b))
        case .rom(let b):
            paint(address, length, region, regionOffset, .rom(b))
        case .mmio(let h):
            paint(address, length, region, regionOffset, .mmio(h))
        case .alias(let target, let aliasOffset):
            let tid = ObjectIdentifier(target)
            visited.insert(tid)
            if path.contains(tid) || tid == id {
                problems.append("alias cycle: '\(region.name)' -> '\(target.name)'; ignored")
                return
            }
            // Alias offset o maps to target offset o + aliasOffset; clip to the target.
            let (t0, over) = regionOffset.addingReportingOverflow(aliasOffset)
            guard !over, t0 < target.size else { return }
            path.append(id)
            render(target, address: address, regionOffset: t0, length: min(length, target.size - t0),
                   depth: depth + 1)
            path.removeLast()
        case .container:
            path.append(id)
            let subs = region._subregions.sorted {
                $0._priority != $1._priority ? $0._priority > $1._priority : $0._sequence > $1._sequence
            }
            let lo = regionOffset
            let hi = regionOffset + length  // <= region.size
            for sub in subs {
                // Subregion covers container offsets [sub._offset, sub._offset + sub.size), saturated.
                let sStart = sub._offset
                let (sEnd0, over) = sStart.addingReportingOverflow(sub.size)
                let sEnd = over ? UInt64.max : sEnd0
                let x = max(lo, sStart)
                let y = min(hi, sEnd)
                guard x < y else {
                    visited.insert(ObjectIdentifier(sub))
                    continue
                }
                render(sub, address: address + (x - lo), regionOffset: x - sStart, length: y - x,
                       depth: depth + 1)
            }
            path.removeLast()
        }
    }

    /// Adds the parts of `[address, address+length)` not yet covered.
    private mutating func paint(_ address: UInt64, _ length: UInt64, _ region: MemoryRegion,
                                _ offset: UInt64, _ target: FlatRange.Target) {
        let end = address + length
        // First existing range that ends after `address`.
        var lo = 0
        var hi = ranges.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if ranges[mid].end <= address { lo = mid + 1 } else { hi = mid }
        }
        var i = lo
        var pos = address
        var pieces: [(Int, FlatRange)] = []
        while pos < end {
            let gapEnd = i < ranges.count ? min(end, ranges[i].start) : end
            if pos < gapEnd {
                pieces.append((i, FlatRange(start: pos, size: gapEnd - pos, region: region,
                                            offsetInRegion: offset + (pos - address), target: target)))
            }
            guard i < ranges.count, ranges[i].start < end else { break }
            pos = max(pos, ranges[i].end)
            i += 1
        }
        // Insert back to front so earlier indices stay valid.
        for (index, piece) in pieces.reversed() {
            ranges.insert(piece, at: index)
        }
    }

    /// Merges neighbours that are the same leaf at contiguous offsets.
    private mutating func merge() {
        guard ranges.count > 1 else { return }
        var out: [FlatRange] = []
        out.reserveCapacity(ranges.count)
        for r in ranges {
            if let last = out.last, last.region === r.region, last.end == r.start,
               last.offsetInRegion + last.size == r.offsetInRegion {
                out[out.count - 1] = FlatRange(start: last.start, size: last.size + r.size, region: r.region,
                                               offsetInRegion: last.offsetInRegion, target: last.target)
            } else {
                out.append(r)
            }
        }
        ranges = out
    }
}
