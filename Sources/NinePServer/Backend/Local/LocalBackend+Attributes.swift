#if canImport(Glibc)
import Glibc
#endif
import CEmuSystem

/// Tgetattr, Tsetattr, Tstatfs and Treadlink: all on the node's `O_PATH` descriptor.
extension LocalBackend {
    private static let setMode: UInt32 = 0x1
    private static let setUID: UInt32 = 0x2
    private static let setGID: UInt32 = 0x4
    private static let setSize: UInt32 = 0x8
    private static let setATime: UInt32 = 0x10
    private static let setMTime: UInt32 = 0x20
    private static let setATimeValue: UInt32 = 0x80
    private static let setMTimeValue: UInt32 = 0x100

    /// The basic attributes (P9_GETATTR_BASIC) of the node's inode, whatever `mask` asks.
    ///
    /// Answered on the calling thread, without the pool: `fstat` of the node's own `O_PATH` fd
    /// reads an inode the fd keeps in memory (on a local file system it never waits for a disk).
    public func getattr(_ node: any FileNode, mask: UInt64) async throws -> Attributes {
        let node = try local(node)
        if Task.isCancelled { throw CancellationError() }
        let st = try Host.stat(node.fd)
        return Attributes(
            valid: Attributes.maskBasic, qid: try qid(st),
            mode: st.st_mode, uid: st.st_uid, gid: st.st_gid,
            nlink: UInt64(st.st_nlink), rdev: UInt64(st.st_rdev),
            size: UInt64(clamping: st.st_size), blockSize: UInt64(clamping: st.st_blksize),
            blocks: UInt64(clamping: st.st_blocks),
            atimeSeconds: UInt64(bitPattern: Int64(st.st_atim.tv_sec)),
            atimeNanoseconds: UInt64(clamping: st.st_atim.tv_nsec),
            mtimeSeconds: UInt64(bitPattern: Int64(st.st_mtim.tv_sec)),
            mtimeNanoseconds: UInt64(clamping: st.st_mtim.tv_nsec),
            ctimeSeconds: UInt64(bitPattern: Int64(st.st_ctim.tv_sec)),
            ctimeNanoseconds: UInt64(clamping: st.st_ctim.tv_nsec))
    }

    /// Changes, in this order, mode, owner, size and times; stops at the first error.
    ///
    /// Mode: not on symlinks (EOPNOTSUPP, as Linux), through `/proc/self/fd/N` so exactly
    /// this inode changes. Owner: `fchownat(fd, "", AT_EMPTY_PATH)`. Size: regular files only
    /// (EISDIR for a directory, EINVAL otherwise), by opening the inode for writing. Times:
    /// `utimensat(fd, "", AT_EMPTY_PATH)`; ATIME/MTIME without their _SET bit mean "now".
    public func setattr(_ node: any FileNode, _ attributes: SetAttributes) async throws {
        try requireWritable()
        let node = try local(node)
        let valid = attributes.valid
        if valid & Self.setSize != 0, attributes.size > UInt64(Int64.max) { throw NinePError.invalid }
        let omit = Glibc.timespec(tv_sec: 0, tv_nsec: Self.utimeOmit)
        var times = [omit, omit]
        if valid & Self.setATime != 0 {
            times[0] = try Self.time(valid & Self.setATimeValue != 0,
                                         attributes.atimeSeconds, attributes.atimeNanoseconds)
        }
        if valid & Self.setMTime != 0 {
            times[1] = try Self.time(valid & Self.setMTimeValue != 0,
                                         attributes.mtimeSeconds, attributes.mtimeNanoseconds)
        }
        let newTimes = times
        try await pool.run { [self] in
            if valid & Self.setMode != 0 {
                if node.isSymlink { throw NinePError.notSupported }
                let mode = mode_t(attributes.mode & 0o7777)
                try Host.retrying { fchmodat(AT_FDCWD, Host.procPath(node.fd), mode, 0) }
            }
            if valid & (Self.setUID | Self.setGID) != 0 {
                let uid = valid & Self.setUID != 0 ? attributes.uid : UInt32.max
                let gid = valid & Self.setGID != 0 ? attributes.gid : UInt32.max
                try Host.retrying { fchownat(node.fd, "", uid, gid, Host.atEmptyPath | Host.atSymlinkNoFollow) }
            }
            if valid & Self.setSize != 0 {
                if node.isDirectory { throw NinePError.isDirectory }
                guard node.fileType == S_IFREG else { throw NinePError.invalid }
                let fd = try reopen(node, hostFlags: O_WRONLY)
                defer { Host.close(fd) }
                try Host.retrying { ftruncate(fd, off_t(attributes.size)) }
            }
            if valid & (Self.setATime | Self.setMTime) != 0 {
                try Host.retrying {
                    utimensat(node.fd, "", newTimes, Host.atEmptyPath | Host.atSymlinkNoFollow)
                }
            }
        }
    }

    /// UTIME_NOW and UTIME_OMIT (Linux values).
    private static let utimeNow = (1 << 30) - 1
    private static let utimeOmit = (1 << 30) - 2

    private static func time(_ given: Bool, _ seconds: UInt64, _ nanoseconds: UInt64) throws(NinePError) -> timespec {
        guard given else { return Glibc.timespec(tv_sec: 0, tv_nsec: utimeNow) }
        guard nanoseconds < 1_000_000_000 else { throw NinePError.invalid }
        return Glibc.timespec(tv_sec: Int(Int64(bitPattern: seconds)), tv_nsec: Int(nanoseconds))
    }

    /// `fstatfs` of the file system holding the node.
    public func statfs(_ node: any FileNode) async throws -> FilesystemStatistics {
        let node = try local(node)
        return try await pool.run {
            var s = [UInt64](repeating: 0, count: 9)
            try Host.retrying { emu_fstatfs(node.fd, &s) }
            return FilesystemStatistics(
                type: UInt32(truncatingIfNeeded: s[0]), blockSize: UInt32(truncatingIfNeeded: s[1]),
                blocks: s[2], blocksFree: s[3], blocksAvailable: s[4], files: s[5], filesFree: s[6],
                fsid: s[7], nameLength: UInt32(truncatingIfNeeded: s[8]))
        }
    }

    /// The target of a symlink node, verbatim. EINVAL for other nodes; EILSEQ for a target
    /// that is not valid UTF-8 (the protocol carries strings).
    public func readlink(_ node: any FileNode) async throws -> String {
        let node = try local(node)
        guard node.isSymlink else { throw NinePError.invalid }
        return try await pool.run {
            var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
            let count = buffer.withUnsafeMutableBytes { raw in
                guard let base = raw.baseAddress else { return -1 }
                return readlinkat(node.fd, "", base.assumingMemoryBound(to: CChar.self), raw.count)
            }
            if count < 0 { throw NinePError.current() }
            guard count < buffer.count else { throw NinePError.nameTooLong }
            guard let target = String(validating: buffer[..<count], as: UTF8.self) else {
                throw NinePError(errno: EILSEQ)
            }
            return target
        }
    }
}
