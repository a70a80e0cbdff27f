import Synchronization

/// What a fid names: a node, maybe opened, maybe an extended-attribute fid.
///
/// A fid can be in use by several requests at once (two reads of one open file). Requests
/// `acquire` it for their duration; Tclunk and Tremove `retire` it. The back end's `close` runs
/// once, when the fid is retired and its last user has released it, so a clunk never closes a
/// file under an in-flight read.
final class Fid: Sendable {
    let node: any FileNode
    let open: (any OpenFile)?
    let xattr: XattrFid?
    private let usage = Mutex<(users: Int, retired: Bool)>((0, false))

    init(node: any FileNode, open: (any OpenFile)? = nil, xattr: XattrFid? = nil) {
        self.node = node
        self.open = open
        self.xattr = xattr
    }

    /// Marks one more request as using the fid; false if it was already retired.
    func acquire() -> Bool {
        usage.withLock { usage in
            guard !usage.retired else { return false }
            usage.users += 1
            return true
        }
    }

    /// Ends one use; returns true when the fid is retired and this was the last user, in which
    /// case the caller must finish it (close the open file).
    func release() -> Bool {
        usage.withLock { usage in
            usage.users -= 1
            return usage.retired && usage.users == 0
        }
    }

    /// Retires the fid; returns true if nobody uses it, in which case the caller finishes it.
    func retire() -> Bool {
        usage.withLock { usage in
            usage.retired = true
            return usage.users == 0
        }
    }
}

/// The state of a fid made by Txattrwalk (read an attribute) or Txattrcreate (write one, which
/// is committed at Tclunk).
final class XattrFid: Sendable {
    enum Mode: Sendable {
        case reading([UInt8])
        case writing(name: String, size: UInt64, flags: UInt32)
    }

    let mode: Mode
    /// The bytes written so far (writing mode); bounded by `size`.
    let written = Mutex<[UInt8]>([])

    init(_ mode: Mode) { self.mode = mode }
}
