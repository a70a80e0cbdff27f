#if canImport(Glibc)
import Glibc
#endif

/// Serves one host directory to an untrusted 9P client, never letting it reach anything
/// outside that directory.
///
/// Confinement:
/// - The export root is opened once, at start-up, with `O_PATH | O_DIRECTORY`; that is the only
///   call given a host path. Every other call is relative to a descriptor the back end holds.
/// - A walk opens one component at a time with `openat(parent, name, O_PATH | O_NOFOLLOW)`:
///   symlinks are never followed on the server (a symlink becomes a node; the client reads
///   it with Treadlink and resolves it itself). '..' is answered from the node's recorded
///   parent, never looked up on the host, and the root's parent is the root
///   (CVE-2016-7116). Names containing '/' or NUL, and empty names, are refused with
///   EINVAL; so are '.' and '..' wherever a name would be created, renamed or removed.
/// - Device nodes, FIFOs and sockets are never opened (CVE-2023-2861): Tlopen checks the type
///   of the node's own inode and refuses them with ENXIO (a symlink with ELOOP); getattr,
///   chmod, chown, utimes and rename work on them. Tmknod refuses character and block
///   devices with EPERM.
/// - To open, truncate, chmod or reach the extended attributes of a node the back end uses
///   `/proc/self/fd/N` of the node's `O_PATH` descriptor: it names exactly the inode the walk
///   found, so a client racing renames cannot swap in a symlink, a device or another file
///   (CVE-2016-9602). An opened file is checked again (same device and inode, regular or
///   directory) before it is used. `/proc` must therefore be mounted; ``init(exportPath:readOnly:)``
///   checks it.
/// - Submounts inside the export are crossed; qid paths stay unique across them (``QidPathMap``).
///
/// Users and groups: the back end does not switch credentials. Files are created as the
/// user the server runs as; the uid/gid a client names in Tattach are ignored; the gid of a
/// create/mkdir/symlink/mknod is applied with a best-effort chown (it works when the server
/// runs as root or belongs to that group; otherwise the file keeps the server's group and no
/// error is reported); Tsetattr of uid/gid calls `fchownat` and returns its error (EPERM when
/// the server is not privileged). Permission checks are the host's, against the server's
/// credentials. Run as root, this is QEMU's `security_model=passthrough`; otherwise it is
/// close to `security_model=none`.
///
/// Extended attributes: regular files and directories only (others EOPNOTSUPP); every
/// attribute can be read and listed, but only the `user.` namespace can be set or removed
/// (a guest must not set `security.capability` or `trusted.*` on host files).
///
/// Locks are open-file-description locks (`F_OFD_SETLK`), so each open file is its own
/// owner and locks of different fids conflict, as between processes. The server never
/// waits for a lock: a conflict answers P9_LOCK_BLOCKED and the client retries.
///
/// Read-only mode refuses every modifying operation with EROFS, including Tlopen for
/// writing or truncation.
///
/// Blocking host calls run on a dedicated thread pool, never on the Swift cooperative pool; the
/// engine runs whole requests on that pool (``preferredTaskExecutor``).
public final class LocalBackend: FileSystemBackend {
    /// Whether every modifying operation is refused with EROFS.
    public let isReadOnly: Bool
    /// The export root node.
    let root: LocalNode
    /// (device, inode) to qid path.
    let paths: QidPathMap
    let pool: BlockingPool

    /// The largest read, write or readdir the back end serves in one call (the engine's msize
    /// is far smaller; this only bounds what a bad count could make us allocate).
    static let maximumTransfer = 1 << 24

    /// Opens the export root at `exportPath` (the host's choice, resolved normally).
    /// Throws a ``NinePError`` if it is not a directory or cannot be opened, or ENOSYS if
    /// `/proc/self/fd` does not work (the back end needs it, see the type's documentation).
    public init(exportPath: String, readOnly: Bool = false) throws {
        let fd = Glibc.open(exportPath, Host.openPath | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw NinePError.current() }
        let paths = QidPathMap()
        do {
            let st = try Host.stat(fd)
            var viaProc = Glibc.stat()
            guard stat(Host.procPath(fd), &viaProc) == 0,
                  viaProc.st_dev == st.st_dev, viaProc.st_ino == st.st_ino
            else { throw NinePError(errno: ENOSYS) }
            let qid = try LocalBackend.qid(st, paths: paths)
            root = LocalNode(fd: fd, qid: qid, fileType: Host.fileType(st.st_mode), parent: nil,
                             name: ".", isRoot: true)
        } catch {
            Host.close(fd)
            throw error
        }
        self.paths = paths
        self.isReadOnly = readOnly
        self.pool = BlockingPool(label: "NinePServer.LocalBackend")
    }

    /// The blocking pool's threads: requests run on them, and their host calls run inline.
    public var preferredTaskExecutor: (any TaskExecutor)? { pool.executor }

    /// The export root; `aname`, `uname` and `uid` are ignored (one export, no credential switch).
    public func attach(aname: String, uname: String, uid: UInt32) async throws -> any FileNode {
        root
    }

    /// Walks one component at a time; a symlink is returned as a node, never followed, and
    /// walking through anything but a directory fails with ENOTDIR.
    ///
    /// Tried first on the calling thread with lookups that only use the dentry cache (`openat2`
    /// with `RESOLVE_CACHED`, then `fstat` of the fd opened); if any step would need I/O, the
    /// pool walks again from the start.
    public func walk(from node: any FileNode, names: [String]) async throws -> [any FileNode] {
        let start = try local(node)
        if Task.isCancelled { throw CancellationError() }
        if !pool.executor.isCurrent, let reached = try walk(from: start, names: names, cachedOnly: true) {
            return reached
        }
        return try await pool.run { [self] in
            try walk(from: start, names: names, cachedOnly: false) ?? []
        }
    }

    /// The nodes reached (as ``walk(from:names:)``), or nil if `cachedOnly` and a step would
    /// need I/O.
    private func walk(from start: LocalNode, names: [String], cachedOnly: Bool) throws(NinePError) -> [any FileNode]? {
        var reached: [any FileNode] = []
        var current = start
        for name in names {
            do throws(NinePError) {
                guard let next = try step(from: current, name: name, cachedOnly: cachedOnly) else { return nil }
                current = next
            } catch {
                if reached.isEmpty { throw error }
                break
            }
            reached.append(current)
        }
        return reached
    }

    /// One walk step; nil if `cachedOnly` and the lookup is not in the dentry cache.
    func step(from node: LocalNode, name: String, cachedOnly: Bool = false) throws(NinePError) -> LocalNode? {
        try NameCheck.component(name)
        guard node.isDirectory else { throw NinePError.notDirectory }
        if name == "." { return node }
        if name == ".." { return node.parentOrSelf }
        let flags = Host.openPath | O_NOFOLLOW | O_CLOEXEC
        let fd: Int32
        if cachedOnly {
            switch Host.openCached(in: node.fd, name: name, flags: flags) {
            case let .opened(opened): fd = opened
            case .notFound: throw NinePError.notFound
            case .wouldWait: return nil
            }
        } else {
            fd = try Host.retrying { openat(node.fd, name, flags) }
        }
        do throws(NinePError) {
            let st = try Host.stat(fd)
            return LocalNode(fd: fd, qid: try qid(st), fileType: Host.fileType(st.st_mode),
                             parent: node, name: name)
        } catch {
            Host.close(fd)
            throw error
        }
    }

    // MARK: - Helpers shared by the operations

    /// The qid of a host file: type from its mode, version from its mtime, path from ``QidPathMap``.
    func qid(_ st: stat) throws(NinePError) -> Qid {
        try LocalBackend.qid(st, paths: paths)
    }

    static func qid(_ st: stat, paths: QidPathMap) throws(NinePError) -> Qid {
        let type: UInt8 = switch Host.fileType(st.st_mode) {
        case S_IFDIR: Qid.typeDirectory
        case S_IFLNK: Qid.typeSymlink
        default: Qid.typeFile
        }
        let version = UInt32(truncatingIfNeeded: st.st_mtim.tv_sec) ^ UInt32(truncatingIfNeeded: st.st_mtim.tv_nsec)
        let path = try paths.path(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        return Qid(type: type, version: version, path: path)
    }

    /// The node as ours; EBADF for a node of another back end.
    func local(_ node: any FileNode) throws(NinePError) -> LocalNode {
        guard let node = node as? LocalNode else { throw NinePError.badFid }
        return node
    }

    /// A directory node of ours; ENOTDIR otherwise.
    func directory(_ node: any FileNode) throws(NinePError) -> LocalNode {
        let node = try local(node)
        guard node.isDirectory else { throw NinePError.notDirectory }
        return node
    }

    /// The open file as ours; EBADF otherwise.
    func local(_ file: any OpenFile) throws(NinePError) -> LocalOpenFile {
        guard let file = file as? LocalOpenFile else { throw NinePError.badFid }
        return file
    }

    /// Throws EROFS in read-only mode.
    func requireWritable() throws(NinePError) {
        if isReadOnly { throw NinePError.readOnly }
    }

    /// Opens the inode of `node` for I/O with `hostFlags` (O_CLOEXEC and O_NOCTTY added).
    ///
    /// Only regular files and directories: a symlink is refused with ELOOP, anything else
    /// with ENXIO, before any open. The open goes through `/proc/self/fd/N` of the node's
    /// `O_PATH` descriptor (exactly that inode, whatever its name is now), and the result is
    /// checked to be the same device and inode.
    func reopen(_ node: LocalNode, hostFlags: Int32) throws(NinePError) -> Int32 {
        if node.isSymlink { throw NinePError.loop }
        guard Host.isOpenable(node.fileType) else { throw NinePError(errno: ENXIO) }
        let path = Host.procPath(node.fd)
        let fd = try Host.retrying { Glibc.open(path, hostFlags | O_CLOEXEC | O_NOCTTY) }
        do throws(NinePError) {
            let opened = try Host.stat(fd)
            let original = try Host.stat(node.fd)
            guard opened.st_dev == original.st_dev, opened.st_ino == original.st_ino,
                  Host.isOpenable(opened.st_mode)
            else { throw NinePError(errno: ENXIO) }
            return fd
        } catch {
            Host.close(fd)
            throw error
        }
    }

    /// Gives `name` in `directory` the group `gid` if the host allows it; errors are ignored
    /// (see the uid/gid policy in the type's documentation).
    func applyGroupBestEffort(directory: Int32, name: String, gid: UInt32) {
        guard gid != getegid(), gid != UInt32.max else { return }
        _ = fchownat(directory, name, UInt32.max, gid, Host.atSymlinkNoFollow)
    }
}
