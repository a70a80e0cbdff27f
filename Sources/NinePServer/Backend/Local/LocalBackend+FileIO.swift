#if canImport(Glibc)
import Glibc
#endif

/// Tlopen, Tlcreate, Tread, Twrite, Tfsync and Tclunk of open files.
extension LocalBackend {
    /// Opens the node's inode (regular file or directory only, see ``reopen(_:hostFlags:)``)
    /// with the client's flags translated by ``OpenFlags``.
    public func open(_ node: any FileNode, flags: UInt32) async throws -> any OpenFile {
        if OpenFlags.modifies(flags) { try requireWritable() }
        let node = try local(node)
        let hostFlags = try OpenFlags.host(flags)
        return try await pool.run { [self] in
            LocalOpenFile(fd: try reopen(node, hostFlags: hostFlags), node: node)
        }
    }

    /// Creates and opens a new regular file. Always `O_CREAT | O_EXCL | O_NOFOLLOW`: an existing
    /// name (a FIFO, a device, a symlink) is never opened, the client gets EEXIST.
    public func create(in directory: any FileNode, name: String, flags: UInt32, mode: UInt32,
                       gid: UInt32) async throws -> any OpenFile {
        try requireWritable()
        let directory = try self.directory(directory)
        try NameCheck.entry(name)
        let hostFlags = (try OpenFlags.host(flags) & ~O_DIRECTORY) | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY
        let permissions = mode_t(mode & 0o7777)
        return try await pool.run { [self] in
            let fd = try Host.retrying { openat(directory.fd, name, hostFlags, permissions) }
            do {
                if gid != getegid(), gid != UInt32.max { _ = fchown(fd, UInt32.max, gid) }
                // An O_PATH descriptor of exactly the file just created, for the node.
                let pathFD = try Host.retrying { Glibc.open(Host.procPath(fd), Host.openPath | O_CLOEXEC) }
                do {
                    let st = try Host.stat(pathFD)
                    let node = LocalNode(fd: pathFD, qid: try qid(st), fileType: Host.fileType(st.st_mode),
                                         parent: directory, name: name)
                    return LocalOpenFile(fd: fd, node: node)
                } catch {
                    Host.close(pathFD)
                    throw error
                }
            } catch {
                Host.close(fd)
                throw error
            }
        }
    }

    /// `pread` until `count` bytes or end of file (at most ``maximumTransfer``).
    public func read(_ file: any OpenFile, offset: UInt64, count: UInt32) async throws -> [UInt8] {
        try await read(file, offset: offset, count: count, headroom: 0)
    }

    /// `pread` straight into the returned array after `headroom` zero bytes, until `count`
    /// bytes or end of file (at most ``maximumTransfer``). The array is not zero-filled first.
    ///
    /// A read of at most ``inlineReadLimit`` bytes that the page cache holds entirely is done
    /// on the calling thread (`preadv2` with `RWF_NOWAIT`, which never waits for a disk), so
    /// it costs no thread hand-off; anything else goes to the pool.
    public func read(_ file: any OpenFile, offset: UInt64, count: UInt32, headroom: Int) async throws -> [UInt8] {
        let file = try local(file)
        guard offset <= UInt64(Int64.max), headroom >= 0 else { throw NinePError.invalid }
        let wanted = min(Int(count), Self.maximumTransfer)
        if wanted == 0 { return [UInt8](repeating: 0, count: headroom) }
        if Task.isCancelled { throw CancellationError() }
        if wanted <= Self.inlineReadLimit, !pool.executor.isCurrent,
           let cached = Self.readCached(file, offset: offset, count: wanted, headroom: headroom)
        {
            return cached
        }
        return try await pool.run {
            try file.withDescriptor { fd in
                try [UInt8](unsafeUninitializedCapacity: headroom + wanted) { buffer, initialized in
                    guard let base = buffer.baseAddress else { return }
                    base.initialize(repeating: 0, count: headroom)
                    let data = base + headroom
                    var done = 0
                    while done < wanted {
                        let result = pread(fd, data + done, wanted - done, off_t(offset) + off_t(done))
                        if result == 0 { break }
                        if result < 0 {
                            if errno == EINTR { continue }
                            if done > 0 { break }
                            throw NinePError.current()
                        }
                        done += result
                    }
                    initialized = headroom + done // pread initialised exactly these bytes
                }
            }
        }
    }

    /// The largest read tried on the calling thread from the page cache.
    static let inlineReadLimit = 128 << 10

    /// The read done without waiting: `headroom` zeros then all `count` bytes at `offset` (or
    /// up to end of file), or nil if some of it is not in memory or the read failed (the pool
    /// then reads it again, and reports the error).
    private static func readCached(_ file: LocalOpenFile, offset: UInt64, count: Int, headroom: Int) -> [UInt8]? {
        var complete = false
        let buffer = try? file.withDescriptor { fd in
            [UInt8](unsafeUninitializedCapacity: headroom + count) { buffer, initialized in
                guard let base = buffer.baseAddress else { return }
                base.initialize(repeating: 0, count: headroom)
                var done = 0
                defer { initialized = headroom + done } // preadv2 initialised exactly these bytes
                while done < count {
                    switch Host.readWithoutWaiting(fd, into: base + headroom + done, count: count - done,
                                                   at: off_t(offset) + off_t(done)) {
                    case .read(0):
                        complete = true // end of file
                        return
                    case let .read(n):
                        done += n
                    case .wouldWait:
                        return
                    }
                }
                complete = true
            }
        }
        return complete ? buffer : nil
    }

    /// `pwrite` of all of `data`; returns the bytes written (fewer only if an error stopped it
    /// after some were written).
    public func write(_ file: any OpenFile, offset: UInt64, data: [UInt8]) async throws -> UInt32 {
        try requireWritable()
        let file = try local(file)
        guard offset <= UInt64(Int64.max), data.count <= Self.maximumTransfer else { throw NinePError.invalid }
        if data.isEmpty { return 0 }
        return try await pool.run {
            try file.withDescriptor { fd in
                var done = 0
                while done < data.count {
                    let result = data.withUnsafeBytes { raw -> Int in
                        guard let base = raw.baseAddress else { return 0 }
                        return pwrite(fd, base + done, data.count - done, off_t(offset) + off_t(done))
                    }
                    if result < 0 {
                        if errno == EINTR { continue }
                        if done > 0 { break }
                        throw NinePError.current()
                    }
                    if result == 0 { break }
                    done += result
                }
                return UInt32(done)
            }
        }
    }

    /// `fsync` or `fdatasync` of the open file.
    public func fsync(_ file: any OpenFile, dataOnly: Bool) async throws {
        let file = try local(file)
        try await pool.run {
            try file.withDescriptor { fd in
                try Host.retrying { dataOnly ? fdatasync(fd) : Glibc.fsync(fd) }
            }
        }
    }

    /// Closes the file (after any operation still running on it). Never fails.
    public func close(_ file: any OpenFile) async {
        guard let file = file as? LocalOpenFile else { return }
        await pool.perform { file.close() }
    }
}
