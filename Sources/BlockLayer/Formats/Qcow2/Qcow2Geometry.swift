/// The sizes an open qcow2 image derives from its header: cluster size, entries per L2 table,
/// refcount width and entries per refcount block, and the offset arithmetic between them.
struct Qcow2Geometry: Sendable, Equatable {
    let clusterBits: Int
    let refcountOrder: Int

    init(clusterBits: Int, refcountOrder: Int) {
        self.clusterBits = clusterBits
        self.refcountOrder = refcountOrder
    }

    var clusterSize: Int { 1 << clusterBits }
    var clusterMask: UInt64 { UInt64(clusterSize - 1) }
    /// Entries in one L2 table (one cluster of 8-byte entries).
    var l2Entries: Int { clusterSize / 8 }
    /// Bits per refcount.
    var refcountBits: Int { 1 << refcountOrder }
    /// The largest refcount value.
    var maximumRefcount: UInt64 { refcountBits == 64 ? UInt64.max : (UInt64(1) << UInt64(refcountBits)) - 1 }
    /// Refcounts in one refcount block.
    var refcountsPerBlock: Int { clusterSize * 8 / refcountBits }
    /// Guest bytes one L2 table maps.
    var bytesPerL2: UInt64 { UInt64(l2Entries) << UInt64(clusterBits) }

    func l1Index(_ guestOffset: UInt64) -> Int { Int(guestOffset / bytesPerL2) }
    func l2Index(_ guestOffset: UInt64) -> Int { Int((guestOffset >> UInt64(clusterBits)) % UInt64(l2Entries)) }
    func clusterIndex(_ hostOffset: UInt64) -> UInt64 { hostOffset >> UInt64(clusterBits) }
    func clusterCount(bytes: UInt64) -> UInt64 { (bytes + clusterMask) >> UInt64(clusterBits) }
}

/// What one L2 entry says about a guest cluster.
enum Qcow2Cluster: Equatable {
    /// Not in this image: the backing node's bytes, or zeroes.
    case unallocated
    /// Reads as zeroes (v3); `host` is a preallocated cluster still owned by the entry, if any.
    case zero(host: UInt64?)
    /// Stored at `host`; `copied` = refcount is exactly 1 (writes may go in place).
    case normal(host: UInt64, copied: Bool)
    /// Stored compressed: `length` bytes at `host` (at most the sectors the entry names).
    case compressed(host: UInt64, length: Int)

    static let copiedFlag: UInt64 = 1 << 63
    static let compressedFlag: UInt64 = 1 << 62
    static let zeroFlag: UInt64 = 1
    static let offsetMask: UInt64 = 0x00FF_FFFF_FFFF_FE00

    /// Decodes an L2 entry. Throws `corrupt` for an unaligned host offset. Version 2 has no
    /// zero flag.
    static func decode(_ entry: UInt64, geometry: Qcow2Geometry, version: UInt32) throws(BlockError) -> Qcow2Cluster {
        if entry & compressedFlag != 0 {
            let offsetBits = 62 - (geometry.clusterBits - 8)
            let host = entry & ((UInt64(1) << UInt64(offsetBits)) - 1)
            let sectors = Int((entry >> UInt64(offsetBits)) & ((UInt64(1) << UInt64(geometry.clusterBits - 8)) - 1)) + 1
            let length = sectors * 512 - Int(host & 511)
            return .compressed(host: host, length: length)
        }
        let host = entry & offsetMask
        if version >= 3 && entry & zeroFlag != 0 {
            if host & geometry.clusterMask != 0 { throw .corrupt("zero cluster offset \(host) unaligned") }
            return .zero(host: host == 0 ? nil : host)
        }
        if host == 0 { return .unallocated }
        if host & geometry.clusterMask != 0 { throw .corrupt("data cluster offset \(host) unaligned") }
        return .normal(host: host, copied: entry & copiedFlag != 0)
    }

    /// The host clusters this entry holds a reference to (for freeing), as byte offsets.
    func referencedHostClusters(geometry: Qcow2Geometry) -> [UInt64] {
        switch self {
        case .unallocated, .zero(host: nil): return []
        case .zero(host: let host?): return [host]
        case .normal(let host, _): return [host]
        case .compressed(let host, let length):
            let first = host & ~geometry.clusterMask
            let last = (host + UInt64(max(length, 1)) - 1) & ~geometry.clusterMask
            return Array(stride(from: first, through: last, by: geometry.clusterSize))
        }
    }
}
