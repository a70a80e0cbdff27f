/// A 9P2000.L request, as sent by the client (the guest).
///
/// One case per T-message the codec accepts; field names follow the protocol description.
/// Values decoded by ``NineP/decodeRequest(_:msize:)`` are exactly what was on the wire:
/// counts are not clamped (use ``NineP/maxIOCount(msize:)``), flags and modes are not
/// interpreted, so re-encoding a decoded request reproduces the original bytes.
public enum TMessage: Hashable, Sendable {
    /// Tversion msize[4] version[s]: start a session (tag must be NOTAG).
    case version(msize: UInt32, version: String)
    /// Tauth afid[4] uname[s] aname[s] n_uname[4].
    case auth(afid: UInt32, uname: String, aname: String, nUname: UInt32)
    /// Tattach fid[4] afid[4] uname[s] aname[s] n_uname[4].
    case attach(fid: UInt32, afid: UInt32, uname: String, aname: String, nUname: UInt32)
    /// Tflush oldtag[2].
    case flush(oldTag: UInt16)
    /// Twalk fid[4] newfid[4] nwname[2] nwname*(wname[s]); at most 16 names.
    case walk(fid: UInt32, newFid: UInt32, names: [String])
    /// Tread fid[4] offset[8] count[4].
    case read(fid: UInt32, offset: UInt64, count: UInt32)
    /// Twrite fid[4] offset[8] count[4] data[count].
    case write(fid: UInt32, offset: UInt64, data: [UInt8])
    /// Tclunk fid[4].
    case clunk(fid: UInt32)
    /// Tremove fid[4].
    case remove(fid: UInt32)
    /// Tstatfs fid[4].
    case statfs(fid: UInt32)
    /// Tlopen fid[4] flags[4].
    case lopen(fid: UInt32, flags: UInt32)
    /// Tlcreate fid[4] name[s] flags[4] mode[4] gid[4].
    case lcreate(fid: UInt32, name: String, flags: UInt32, mode: UInt32, gid: UInt32)
    /// Tsymlink fid[4] name[s] symtgt[s] gid[4].
    case symlink(fid: UInt32, name: String, target: String, gid: UInt32)
    /// Tmknod dfid[4] name[s] mode[4] major[4] minor[4] gid[4].
    case mknod(dirFid: UInt32, name: String, mode: UInt32, major: UInt32, minor: UInt32, gid: UInt32)
    /// Trename fid[4] dfid[4] name[s].
    case rename(fid: UInt32, dirFid: UInt32, name: String)
    /// Treadlink fid[4].
    case readlink(fid: UInt32)
    /// Tgetattr fid[4] request_mask[8].
    case getattr(fid: UInt32, requestMask: UInt64)
    /// Tsetattr fid[4] followed by the ``SetAttributes`` body.
    case setattr(fid: UInt32, attributes: SetAttributes)
    /// Txattrwalk fid[4] newfid[4] name[s].
    case xattrwalk(fid: UInt32, newFid: UInt32, name: String)
    /// Txattrcreate fid[4] name[s] attr_size[8] flags[4].
    case xattrcreate(fid: UInt32, name: String, attrSize: UInt64, flags: UInt32)
    /// Treaddir fid[4] offset[8] count[4].
    case readdir(fid: UInt32, offset: UInt64, count: UInt32)
    /// Tfsync fid[4] datasync[4].
    case fsync(fid: UInt32, datasync: UInt32)
    /// Tlock fid[4] followed by the ``LockRequest`` body.
    case lock(fid: UInt32, lock: LockRequest)
    /// Tgetlock fid[4] followed by the ``LockQuery`` body.
    case getlock(fid: UInt32, lock: LockQuery)
    /// Tlink dfid[4] fid[4] name[s].
    case link(dirFid: UInt32, fid: UInt32, name: String)
    /// Tmkdir dfid[4] name[s] mode[4] gid[4].
    case mkdir(dirFid: UInt32, name: String, mode: UInt32, gid: UInt32)
    /// Trenameat olddirfid[4] oldname[s] newdirfid[4] newname[s].
    case renameat(oldDirFid: UInt32, oldName: String, newDirFid: UInt32, newName: String)
    /// Tunlinkat dirfd[4] name[s] flags[4].
    case unlinkat(dirFid: UInt32, name: String, flags: UInt32)

    /// The type byte this request travels under.
    public var type: NinePMessageType {
        switch self {
        case .version: .tversion
        case .auth: .tauth
        case .attach: .tattach
        case .flush: .tflush
        case .walk: .twalk
        case .read: .tread
        case .write: .twrite
        case .clunk: .tclunk
        case .remove: .tremove
        case .statfs: .tstatfs
        case .lopen: .tlopen
        case .lcreate: .tlcreate
        case .symlink: .tsymlink
        case .mknod: .tmknod
        case .rename: .trename
        case .readlink: .treadlink
        case .getattr: .tgetattr
        case .setattr: .tsetattr
        case .xattrwalk: .txattrwalk
        case .xattrcreate: .txattrcreate
        case .readdir: .treaddir
        case .fsync: .tfsync
        case .lock: .tlock
        case .getlock: .tgetlock
        case .link: .tlink
        case .mkdir: .tmkdir
        case .renameat: .trenameat
        case .unlinkat: .tunlinkat
        }
    }
}
