#if canImport(Glibc)
import Glibc
#endif

/// Treaddir.
extension LocalBackend {
    /// Entries after cookie `offset`, as many as fit in `count` bytes of Rreaddir payload.
    ///
    /// Cookies are the host's `d_off` values (`telldir`/`seekdir` positions), so a client's
    /// offset resumes exactly after the last entry it got; 0 rewinds. '.' and '..' are listed
    /// (Linux's v9fs expects them) with the node's qid and its parent's qid ('..' of the root
    /// is the root). Other qids come from `fstatat(AT_SYMLINK_NOFOLLOW)` of the entry, so a
    /// submount shows its own root. Skipped: names that are not valid UTF-8 (the protocol
    /// carries UTF-8 strings) and entries that vanish before they can be stat'ed.
    public func readdir(_ file: any OpenFile, offset: UInt64, count: UInt32) async throws -> [DirectoryEntry] {
        let file = try local(file)
        let node = file.localNode
        guard node.isDirectory else { throw NinePError.notDirectory }
        let budget = min(Int(count), Self.maximumTransfer)
        return try await pool.run { [self] in
            try file.withDescriptor { fd in
                try file.directory.withLock { directory throws(NinePError) -> [DirectoryEntry] in
                    if directory.stream == nil {
                        let copy = try Host.retrying { fcntl(fd, F_DUPFD_CLOEXEC, 0) }
                        guard let stream = fdopendir(copy) else {
                            let error = NinePError.current()
                            Host.close(copy)
                            throw error
                        }
                        directory.stream = stream
                    }
                    guard let stream = directory.stream else { throw NinePError.badFid }
                    return try list(stream, node: node, offset: offset, budget: budget)
                }
            }
        }
    }

    private func list(_ stream: OpaquePointer, node: LocalNode, offset: UInt64,
                      budget: Int) throws(NinePError) -> [DirectoryEntry] {
        if offset == 0 { rewinddir(stream) } else { seekdir(stream, Int(Int64(bitPattern: offset))) }
        let directoryFD = dirfd(stream)
        var entries: [DirectoryEntry] = []
        var used = 0
        while true {
            errno = 0
            guard let raw = Glibc.readdir(stream) else {
                if errno != 0, entries.isEmpty { throw NinePError.current() }
                break
            }
            let nameBytes = withUnsafeBytes(of: &raw.pointee.d_name) { bytes in
                Array(bytes.prefix { $0 != 0 })
            }
            guard let name = String(validating: nameBytes, as: UTF8.self) else { continue }
            let qid: Qid
            if name == "." {
                qid = node.qid
            } else if name == ".." {
                qid = node.parentOrSelf.qid
            } else {
                do {
                    qid = try self.qid(try Host.stat(in: directoryFD, name: name))
                } catch {
                    continue
                }
            }
            let entry = DirectoryEntry(qid: qid, offset: UInt64(bitPattern: Int64(raw.pointee.d_off)),
                                       type: raw.pointee.d_type, name: name)
            if used + entry.wireSize > budget { break }
            used += entry.wireSize
            entries.append(entry)
        }
        return entries
    }
}
