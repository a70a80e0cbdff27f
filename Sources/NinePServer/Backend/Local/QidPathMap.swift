import Synchronization

/// Maps a host file's (device, inode) pair to a 64-bit qid path that is unique across every
/// device inside one export, so two files on different submounts never share a qid.
///
/// Scheme: the pair (device, top 16 bits of the inode) gets a 16-bit prefix, handed out in
/// first-seen order (the export's own device with small inode numbers gets prefix 0), and
/// `path = prefix << 48 | (inode & 0xFFFF_FFFF_FFFF)`. Inode numbers wider than 48 bits
/// (overlayfs xino, some btrfs setups) therefore still map without aliasing. When all 65536
/// prefixes are used the file is refused with EXDEV rather than given a colliding path.
/// Mappings are never forgotten while the back end lives.
public final class QidPathMap: Sendable {
    private struct Key: Hashable {
        var device: UInt64
        var inodeHigh: UInt16
    }

    private let prefixes = Mutex<[Key: UInt64]>([:])
    private let capacity: Int

    /// Creates an empty map. `capacity` (at most 65536) is the number of prefixes; tests use
    /// a small one to reach exhaustion.
    public init(capacity: Int = 1 << 16) {
        self.capacity = min(max(capacity, 1), 1 << 16)
    }

    /// The qid path of inode `inode` on device `device`; throws EXDEV when no prefix is left.
    public func path(device: UInt64, inode: UInt64) throws(NinePError) -> UInt64 {
        let key = Key(device: device, inodeHigh: UInt16(truncatingIfNeeded: inode >> 48))
        let prefix: UInt64? = prefixes.withLock { table in
            if let known = table[key] { return known }
            guard table.count < capacity else { return nil }
            let next = UInt64(table.count)
            table[key] = next
            return next
        }
        guard let prefix else { throw NinePError.crossDevice }
        return prefix << 48 | (inode & 0xFFFF_FFFF_FFFF)
    }
}
