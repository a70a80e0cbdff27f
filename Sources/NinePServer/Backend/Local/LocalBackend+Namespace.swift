#if canImport(Glibc)
import Glibc
#endif

/// Tmkdir, Tsymlink, Tmknod, Tlink, Trename, Trenameat, Tunlinkat and Tremove: each one
/// `*at()` call relative to a directory node's `O_PATH` descriptor (Linux accepts those for
/// all of these calls).
extension LocalBackend {
    /// `mkdirat`; the new directory's qid.
    public func mkdir(in directory: any FileNode, name: String, mode: UInt32, gid: UInt32) async throws -> Qid {
        try requireWritable()
        let directory = try self.directory(directory)
        try NameCheck.entry(name)
        return try await pool.run { [self] in
            try Host.retrying { mkdirat(directory.fd, name, mode_t(mode & 0o7777)) }
            applyGroupBestEffort(directory: directory.fd, name: name, gid: gid)
            return try qid(try Host.stat(in: directory.fd, name: name))
        }
    }

    /// `symlinkat`: `target` is stored verbatim (EINVAL if empty or containing NUL).
    public func symlink(in directory: any FileNode, name: String, target: String, gid: UInt32) async throws -> Qid {
        try requireWritable()
        let directory = try self.directory(directory)
        try NameCheck.entry(name)
        guard !target.isEmpty, !target.utf8.contains(0) else { throw NinePError.invalid }
        return try await pool.run { [self] in
            try Host.retrying { symlinkat(target, directory.fd, name) }
            applyGroupBestEffort(directory: directory.fd, name: name, gid: gid)
            return try qid(try Host.stat(in: directory.fd, name: name))
        }
    }

    /// `mknodat` of a regular file, FIFO or socket. Character and block devices are refused
    /// with EPERM (even when the server could make them); directories and symlinks with EINVAL.
    public func mknod(in directory: any FileNode, name: String, mode: UInt32, major: UInt32, minor: UInt32,
                      gid: UInt32) async throws -> Qid {
        try requireWritable()
        let directory = try self.directory(directory)
        try NameCheck.entry(name)
        let type = mode_t(mode) & S_IFMT
        switch type {
        case 0, S_IFREG, S_IFIFO, S_IFSOCK: break
        case S_IFCHR, S_IFBLK: throw NinePError.notPermitted
        default: throw NinePError.invalid
        }
        let hostMode = type | mode_t(mode & 0o7777)
        return try await pool.run { [self] in
            try Host.retrying { mknodat(directory.fd, name, hostMode, 0) }
            applyGroupBestEffort(directory: directory.fd, name: name, gid: gid)
            return try qid(try Host.stat(in: directory.fd, name: name))
        }
    }

    /// A hard link to exactly the node's inode: `linkat(fd, "", AT_EMPTY_PATH)`, or without
    /// CAP_DAC_READ_SEARCH through `/proc/self/fd/N` with AT_SYMLINK_FOLLOW (the documented
    /// equivalent). Directories: EPERM.
    public func link(_ node: any FileNode, in directory: any FileNode, name: String) async throws {
        try requireWritable()
        let node = try local(node)
        let directory = try self.directory(directory)
        try NameCheck.entry(name)
        if node.isDirectory { throw NinePError.notPermitted }
        try await pool.run {
            while true {
                if linkat(node.fd, "", directory.fd, name, Host.atEmptyPath) == 0 { return }
                if errno == EINTR { continue }
                if errno != ENOENT { throw NinePError.current() }
                break
            }
            try Host.retrying { linkat(AT_FDCWD, Host.procPath(node.fd), directory.fd, name, Host.atSymlinkFollow) }
        }
    }

    /// Moves the node to `name` in `directory` and records its new place. The root cannot be
    /// renamed (EBUSY); a node whose recorded name no longer names its inode gets ENOENT.
    public func rename(_ node: any FileNode, to directory: any FileNode, name: String) async throws {
        try requireWritable()
        let node = try local(node)
        let directory = try self.directory(directory)
        try NameCheck.entry(name)
        guard let (parent, oldName) = node.parentAndName else { throw NinePError(errno: EBUSY) }
        // Never make the node an ancestor of itself in our records (the host refuses the
        // rename too, unless our records are stale).
        var ancestor: LocalNode? = directory
        while let current = ancestor, !current.isRoot {
            if current === node { throw NinePError.invalid }
            ancestor = current.parentAndName?.parent
        }
        try await pool.run {
            try Self.requireSameInode(node, in: parent, name: oldName)
            try Host.retrying { SwiftGlibc.renameat(parent.fd, oldName, directory.fd, name) }
            node.moved(to: directory, name: name)
        }
    }

    /// `renameat` between two directory nodes.
    public func renameat(from oldDirectory: any FileNode, oldName: String, to newDirectory: any FileNode,
                         newName: String) async throws {
        try requireWritable()
        let from = try directory(oldDirectory)
        let to = try directory(newDirectory)
        try NameCheck.entry(oldName)
        try NameCheck.entry(newName)
        try await pool.run {
            try Host.retrying { SwiftGlibc.renameat(from.fd, oldName, to.fd, newName) }
        }
    }

    /// `unlinkat`; only the AT_REMOVEDIR bit of `flags` is used.
    public func unlinkat(in directory: any FileNode, name: String, flags: UInt32) async throws {
        try requireWritable()
        let directory = try self.directory(directory)
        try NameCheck.entry(name)
        let hostFlags = flags & UInt32(Host.atRemoveDir) != 0 ? Host.atRemoveDir : 0
        try await pool.run {
            try Host.retrying { Glibc.unlinkat(directory.fd, name, hostFlags) }
        }
    }

    /// Unlinks the node's name in its parent (AT_REMOVEDIR for a directory). The root: EBUSY.
    public func remove(_ node: any FileNode) async throws {
        try requireWritable()
        let node = try local(node)
        guard let (parent, name) = node.parentAndName else { throw NinePError(errno: EBUSY) }
        try await pool.run {
            try Self.requireSameInode(node, in: parent, name: name)
            try Host.retrying { Glibc.unlinkat(parent.fd, name, node.isDirectory ? Host.atRemoveDir : 0) }
        }
    }

    /// ENOENT unless `name` in `parent` still names the node's inode (narrows, without closing,
    /// the window in which a rename elsewhere makes us act on another entry of the directory).
    private static func requireSameInode(_ node: LocalNode, in parent: LocalNode, name: String) throws(NinePError) {
        let current = try Host.stat(in: parent.fd, name: name)
        let own = try Host.stat(node.fd)
        guard current.st_dev == own.st_dev, current.st_ino == own.st_ino else { throw NinePError.notFound }
    }
}
