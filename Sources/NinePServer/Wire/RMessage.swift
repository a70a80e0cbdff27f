/// A 9P2000.L reply, as sent by the server.
///
/// One case per R-message; errors are always `.lerror` (9P2000.L has no Rerror).
public enum RMessage: Hashable, Sendable {
    /// Rversion msize[4] version[s].
    case version(msize: UInt32, version: String)
    /// Rauth aqid[13].
    case auth(aqid: Qid)
    /// Rattach qid[13].
    case attach(qid: Qid)
    /// Rlerror ecode[4]: a Linux errno.
    case lerror(errno: UInt32)
    /// Rflush (empty).
    case flush
    /// Rwalk nwqid[2] nwqid*(qid[13]); at most 16 qids.
    case walk(qids: [Qid])
    /// Rread count[4] data[count].
    case read(data: [UInt8])
    /// Rwrite count[4].
    case write(count: UInt32)
    /// Rclunk (empty).
    case clunk
    /// Rremove (empty).
    case remove
    /// Rstatfs followed by the ``FilesystemStatistics`` body.
    case statfs(FilesystemStatistics)
    /// Rlopen qid[13] iounit[4].
    case lopen(qid: Qid, iounit: UInt32)
    /// Rlcreate qid[13] iounit[4].
    case lcreate(qid: Qid, iounit: UInt32)
    /// Rsymlink qid[13].
    case symlink(qid: Qid)
    /// Rmknod qid[13].
    case mknod(qid: Qid)
    /// Rrename (empty).
    case rename
    /// Rreadlink target[s].
    case readlink(target: String)
    /// Rgetattr followed by the ``Attributes`` body.
    case getattr(Attributes)
    /// Rsetattr (empty).
    case setattr
    /// Rxattrwalk size[8].
    case xattrwalk(size: UInt64)
    /// Rxattrcreate (empty).
    case xattrcreate
    /// Rreaddir count[4] data[count]: packed ``DirectoryEntry`` records (see ``DirectoryEntry/pack(_:limit:)``).
    case readdir(data: [UInt8])
    /// Rfsync (empty).
    case fsync
    /// Rlock status[1].
    case lock(status: UInt8)
    /// Rgetlock followed by the ``LockQuery`` body.
    case getlock(LockQuery)
    /// Rlink (empty).
    case link
    /// Rmkdir qid[13].
    case mkdir(qid: Qid)
    /// Rrenameat (empty).
    case renameat
    /// Runlinkat (empty).
    case unlinkat

    /// The type byte this reply travels under.
    public var type: NinePMessageType {
        switch self {
        case .version: .rversion
        case .auth: .rauth
        case .attach: .rattach
        case .lerror: .rlerror
        case .flush: .rflush
        case .walk: .rwalk
        case .read: .rread
        case .write: .rwrite
        case .clunk: .rclunk
        case .remove: .rremove
        case .statfs: .rstatfs
        case .lopen: .rlopen
        case .lcreate: .rlcreate
        case .symlink: .rsymlink
        case .mknod: .rmknod
        case .rename: .rrename
        case .readlink: .rreadlink
        case .getattr: .rgetattr
        case .setattr: .rsetattr
        case .xattrwalk: .rxattrwalk
        case .xattrcreate: .rxattrcreate
        case .readdir: .rreaddir
        case .fsync: .rfsync
        case .lock: .rlock
        case .getlock: .rgetlock
        case .link: .rlink
        case .mkdir: .rmkdir
        case .renameat: .rrenameat
        case .unlinkat: .runlinkat
        }
    }
}
