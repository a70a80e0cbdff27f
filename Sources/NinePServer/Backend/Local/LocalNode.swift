#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A file of a ``LocalBackend`` export: an `O_PATH | O_NOFOLLOW` descriptor of the host file,
/// plus where the client reached it (its parent node and its name there).
///
/// The descriptor pins the very inode the walk found; operations go through it with the
/// `*at()` calls and never re-resolve a path. The parent is kept only so that walking '..'
/// needs no host lookup (the root's parent is the root) and so that Tremove/Trename can name
/// the file in its directory. Trename through this node updates the location; renames done
/// by the host or through another node leave it stale, which can make a later Tremove or
/// Trename of this node fail or hit another name in the same directory, never anything
/// outside the export.
public final class LocalNode: FileNode {
    /// Where the node was reached: its parent (nil only for the export root) and its name there.
    struct Location {
        var parent: LocalNode?
        var name: String
    }

    /// The qid the node had when it was reached.
    public let qid: Qid
    /// The `O_PATH` descriptor; closed when the node goes away.
    let fd: Int32
    /// The `S_IFMT` bits of the file (a file's type never changes).
    let fileType: mode_t
    /// Whether this is the export root.
    let isRoot: Bool
    private let location: Mutex<Location>

    init(fd: Int32, qid: Qid, fileType: mode_t, parent: LocalNode?, name: String, isRoot: Bool = false) {
        self.fd = fd
        self.qid = qid
        self.fileType = fileType
        self.isRoot = isRoot
        self.location = Mutex(Location(parent: parent, name: name))
    }

    /// Whether the node is a directory.
    var isDirectory: Bool { fileType == S_IFDIR }
    /// Whether the node is a symbolic link.
    var isSymlink: Bool { fileType == S_IFLNK }

    /// The parent node; the root's parent is the root itself.
    var parentOrSelf: LocalNode { location.withLock { $0.parent } ?? self }

    /// The parent and the name in it; nil for the root.
    var parentAndName: (parent: LocalNode, name: String)? {
        location.withLock { location in location.parent.map { ($0, location.name) } }
    }

    /// Records a rename done through this node.
    func moved(to parent: LocalNode, name: String) {
        location.withLock { $0 = Location(parent: parent, name: name) }
    }

    deinit {
        Host.close(fd)
        // Release the parent chain iteratively: a client can hold a node thousands of
        // directories deep, and recursive deinits would overflow the stack.
        var next = location.withLock { location in
            let parent = location.parent
            location.parent = nil
            return parent
        }
        while var node = next {
            guard isKnownUniquelyReferenced(&node) else { break }
            next = node.location.withLock { location in
                let parent = location.parent
                location.parent = nil
                return parent
            }
        }
    }
}
