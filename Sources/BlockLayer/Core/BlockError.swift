#if canImport(Glibc)
import Glibc
#endif

/// Every error the block layer reports. Drivers throw these and nothing else, so a device model
/// can map each case to its own status (virtio-blk: `VIRTIO_BLK_S_IOERR`, `…_UNSUPP`).
public enum BlockError: Error, Equatable, Sendable {
    /// A host call failed with `errno`; `operation` names the call (`pread`, `fdatasync`, …).
    case io(errno: Int32, operation: String)
    /// The request does not lie inside the node (`offset + length > nodeLength`).
    case outOfRange(offset: UInt64, length: UInt64, nodeLength: UInt64)
    /// `offset + length` does not fit in 64 bits (a hostile or corrupt request).
    case overflow(offset: UInt64, length: UInt64)
    /// Offset or length is not a multiple of the node's request alignment.
    case misaligned(offset: UInt64, length: UInt64, alignment: Int)
    /// The request is longer than the driver's maximum transfer.
    case tooLarge(length: UInt64, maximum: Int)
    /// A write-type request (write, discard, zeroes, truncate) on a read-only node.
    case readOnly
    /// The driver cannot do this operation at all.
    case unsupported(String)
    /// A second writer tried to claim a node; `holder` is who has it.
    case writerConflict(node: String, holder: String)
    /// A graph change was attempted outside a drained section, or while requests were in flight.
    case notDrained
    /// `drainedEnd()` without a matching `drainedBegin()`.
    case unbalancedDrain
    /// An invalid argument that is not a range problem (e.g. a raw window larger than its child).
    case invalidArgument(String)
    /// An image's metadata is malformed, inconsistent or hostile (a pointer past the end of the
    /// file, an unaligned table, an absurd size, a backing chain that loops); the text says what.
    case corrupt(String)
}

extension BlockError: CustomStringConvertible {
    /// A one-line message for people (what `emu-img` prints).
    public var description: String {
        switch self {
        case .io(let errno, let operation): return "\(operation) failed: \(String(cString: strerror(errno)))"
        case .outOfRange(let offset, let length, let nodeLength):
            return "request \(offset)+\(length) past the end (\(nodeLength) bytes)"
        case .overflow(let offset, let length): return "request \(offset)+\(length) overflows"
        case .misaligned(let offset, let length, let alignment):
            return "request \(offset)+\(length) not aligned to \(alignment)"
        case .tooLarge(let length, let maximum): return "request of \(length) bytes exceeds \(maximum)"
        case .readOnly: return "image is read-only"
        case .unsupported(let what): return "unsupported: \(what)"
        case .writerConflict(let node, let holder): return "\(node) is already written by \(holder)"
        case .notDrained: return "graph change outside a drained section"
        case .unbalancedDrain: return "drainedEnd without drainedBegin"
        case .invalidArgument(let what): return what
        case .corrupt(let what): return "corrupt image: \(what)"
        }
    }
}
