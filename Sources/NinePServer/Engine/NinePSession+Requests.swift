#if canImport(Glibc)
import Glibc
#endif

/// The request handlers: each turns one T-message into back-end calls and an ``Outcome``.
extension NinePSession {
    /// The largest extended attribute a client may create (Linux's XATTR_SIZE_MAX).
    static let maxXattrSize: UInt64 = 65536

    /// Runs request `tag`; its reply is encoded later, except an Rread, made in place here.
    func perform(_ message: TMessage, tag: UInt16, msize: UInt32) async -> Outcome {
        if Task.isCancelled { return .cancelled }
        do {
            return try await handle(message, tag: tag, msize: msize)
        } catch is CancellationError {
            return .cancelled
        } catch let error as NinePError {
            return .reply(.lerror(errno: UInt32(bitPattern: error.errno)))
        } catch let error as NinePWireError {
            return .reply(.lerror(errno: error.errno))
        } catch {
            return .reply(.lerror(errno: UInt32(EIO)))
        }
    }

    private func handle(_ message: TMessage, tag: UInt16, msize: UInt32) async throws -> Outcome {
        let ioLimit = NineP.maxIOCount(msize: msize)
        switch message {
        case .version, .flush:
            throw NinePError.invalid // answered by the session itself, never here

        case .auth:
            // No authentication. ENOENT is how 9P2000.L servers say "not required" (diod's
            // clients proceed to Tattach with afid NOFID on it; Linux never sends Tauth).
            throw NinePError.notFound

        case let .attach(fid, afid, uname, aname, nUname):
            guard afid == NineP.noFid else { throw NinePError.invalid }
            try requireUnused(fid)
            let root = try await backend.attach(aname: aname, uname: uname, uid: nUname)
            return .reply(.attach(qid: root.qid), .bind(fid, Fid(node: root), replacing: nil))

        case let .walk(fid, newFid, names):
            if newFid != fid { try requireUnused(newFid) }
            return try await withFid(fid) { source in
                // Walking from an open fid is allowed (diod's clients list a directory that
                // way; the new fid is not open), but not in place, which would drop the open file.
                guard source.xattr == nil, source.open == nil || newFid != fid else { throw NinePError.badFid }
                let replacing = newFid == fid ? source : nil
                if names.isEmpty {
                    return .reply(.walk(qids: []), .bind(newFid, Fid(node: source.node), replacing: replacing))
                }
                let nodes = try await backend.walk(from: source.node, names: names)
                let qids = nodes.prefix(names.count).map(\.qid)
                guard nodes.count >= names.count, let last = nodes.last else {
                    return .reply(.walk(qids: Array(qids))) // partial walk: newfid not bound
                }
                return .reply(.walk(qids: Array(qids)), .bind(newFid, Fid(node: last), replacing: replacing))
            }

        case let .read(fid, offset, count):
            return try await withFid(fid) { f in
                let limit = Int(min(count, ioLimit))
                if let xattr = f.xattr {
                    guard case let .reading(value) = xattr.mode else { throw NinePError.badFid }
                    guard offset < UInt64(value.count) else { return .reply(.read(data: [])) }
                    let start = Int(offset)
                    return .reply(.read(data: Array(value[start..<min(value.count, start + limit)])))
                }
                guard let open = f.open else { throw NinePError.badFid }
                let headroom = NineP.readReplyHeaderSize
                var buffer = try await backend.read(open, offset: offset, count: UInt32(limit), headroom: headroom)
                guard buffer.count >= headroom else { throw NinePError(errno: EIO) } // a back end's bug
                if buffer.count > headroom + limit { buffer.removeLast(buffer.count - headroom - limit) }
                try NineP.finishReadReply(tag: tag, in: &buffer, maxSize: msize)
                return .encoded(buffer)
            }

        case let .write(fid, offset, data):
            return try await withFid(fid) { f in
                if let xattr = f.xattr {
                    guard case let .writing(_, size, _) = xattr.mode else { throw NinePError.badFid }
                    try xattr.written.withLock { (written: inout [UInt8]) throws(NinePError) in
                        guard offset == UInt64(written.count),
                              UInt64(written.count) + UInt64(data.count) <= size else { throw .invalid }
                        written.append(contentsOf: data)
                    }
                    return .reply(.write(count: UInt32(data.count)))
                }
                guard let open = f.open else { throw NinePError.badFid }
                let written = try await backend.write(open, offset: offset, data: data)
                return .reply(.write(count: min(written, UInt32(data.count))))
            }

        case let .clunk(fid):
            // The fid is gone whatever happens next; an xattr being created is committed now.
            let removed = try take(fid)
            return try await retiring(removed) {
                if let xattr = removed.xattr, case let .writing(name, size, flags) = xattr.mode {
                    let value = xattr.written.withLock { $0 }
                    guard UInt64(value.count) == size else { throw NinePError.invalid }
                    try await backend.xattrSet(removed.node, name: name, value: value, flags: flags)
                }
                return .reply(.clunk)
            }

        case let .remove(fid):
            let removed = try take(fid)
            return try await retiring(removed) {
                try await backend.remove(removed.node)
                return .reply(.remove)
            }

        case let .statfs(fid):
            return try await withFid(fid) { .reply(.statfs(try await backend.statfs($0.node))) }

        case let .lopen(fid, flags):
            return try await withFid(fid) { f in
                guard f.open == nil, f.xattr == nil else { throw NinePError.badFid }
                let file = try await backend.open(f.node, flags: flags)
                return .reply(.lopen(qid: f.node.qid, iounit: ioLimit),
.bind(fid, Fid(node: f.node, open: file), replacing: f))
            }

        case let .lcreate(fid, name, flags, mode, gid):
            return try await withFid(fid) { directory in
                guard directory.open == nil, directory.xattr == nil else { throw NinePError.badFid }
                let file = try await backend.create(in: directory.node, name: name, flags: flags,
                                                    mode: mode, gid: gid)
                return .reply(.lcreate(qid: file.node.qid, iounit: ioLimit),
                              .bind(fid, Fid(node: file.node, open: file), replacing: directory))
            }

        case let .symlink(fid, name, target, gid):
            return try await withFid(fid) {
                .reply(.symlink(qid: try await backend.symlink(in: $0.node, name: name, target: target, gid: gid)))
            }

        case let .mknod(dirFid, name, mode, major, minor, gid):
            return try await withFid(dirFid) {
                .reply(.mknod(qid: try await backend.mknod(in: $0.node, name: name, mode: mode,
                                                           major: major, minor: minor, gid: gid)))
            }

        case let .mkdir(dirFid, name, mode, gid):
            return try await withFid(dirFid) {
                .reply(.mkdir(qid: try await backend.mkdir(in: $0.node, name: name, mode: mode, gid: gid)))
            }

        case let .rename(fid, dirFid, name):
            return try await withFid(fid) { f in
                try await withFid(dirFid) { directory in
                    try await backend.rename(f.node, to: directory.node, name: name)
                    return .reply(.rename)
                }
            }

        case let .renameat(oldDirFid, oldName, newDirFid, newName):
            return try await withFid(oldDirFid) { old in
                try await withFid(newDirFid) { new in
                    try await backend.renameat(from: old.node, oldName: oldName, to: new.node, newName: newName)
                    return .reply(.renameat)
                }
            }

        case let .unlinkat(dirFid, name, flags):
            return try await withFid(dirFid) {
                try await backend.unlinkat(in: $0.node, name: name, flags: flags)
                return .reply(.unlinkat)
            }

        case let .link(dirFid, fid, name):
            return try await withFid(dirFid) { directory in
                try await withFid(fid) { f in
                    try await backend.link(f.node, in: directory.node, name: name)
                    return .reply(.link)
                }
            }

        case let .readlink(fid):
            return try await withFid(fid) { .reply(.readlink(target: try await backend.readlink($0.node))) }

        case let .getattr(fid, mask):
            return try await withFid(fid) { .reply(.getattr(try await backend.getattr($0.node, mask: mask))) }

        case let .setattr(fid, attributes):
            return try await withFid(fid) {
                try await backend.setattr($0.node, attributes)
                return .reply(.setattr)
            }

        case let .xattrwalk(fid, newFid, name):
            if newFid != fid { try requireUnused(newFid) }
            return try await withFid(fid) { f in
                let value = try await backend.xattrGet(f.node, name: name)
                let xattr = XattrFid(.reading(value))
                return .reply(.xattrwalk(size: UInt64(value.count)),
                              .bind(newFid, Fid(node: f.node, xattr: xattr), replacing: newFid == fid ? f : nil))
            }

        case let .xattrcreate(fid, name, size, flags):
            guard size <= Self.maxXattrSize else { throw NinePError(errno: E2BIG) }
            guard !backend.isReadOnly else { throw NinePError.readOnly }
            return try await withFid(fid) { f in
                guard f.open == nil, f.xattr == nil else { throw NinePError.badFid }
                let xattr = XattrFid(.writing(name: name, size: size, flags: flags))
                return .reply(.xattrcreate, .bind(fid, Fid(node: f.node, xattr: xattr), replacing: f))
            }

        case let .readdir(fid, offset, count):
            return try await withFid(fid) { f in
                guard let open = f.open else { throw NinePError.badFid }
                let limit = min(count, ioLimit)
                let entries = try await backend.readdir(open, offset: offset, count: limit)
                return .reply(.readdir(data: try DirectoryEntry.pack(entries, limit: Int(limit)).data))
            }

        case let .fsync(fid, datasync):
            return try await withFid(fid) { f in
                guard let open = f.open else { throw NinePError.badFid }
                try await backend.fsync(open, dataOnly: datasync != 0)
                return .reply(.fsync)
            }

        case let .lock(fid, request):
            return try await withFid(fid) { f in
                guard let open = f.open else { throw NinePError.badFid }
                return .reply(.lock(status: try await backend.lock(open, request)))
            }

        case let .getlock(fid, query):
            return try await withFid(fid) { f in
                guard let open = f.open else { throw NinePError.badFid }
                return .reply(.getlock(try await backend.getlock(open, query)))
            }
        }
    }

    // MARK: Fid table access

    /// Runs `body` with fid `number` in use (a concurrent clunk waits for it to finish before
    /// the file is closed).
    private func withFid(_ number: UInt32, _ body: (Fid) async throws -> Outcome) async throws -> Outcome {
        guard let fid = state.withLock({ $0.fids[number] }), fid.acquire() else { throw NinePError.badFid }
        let outcome: Outcome
        do {
            outcome = try await body(fid)
        } catch {
            if fid.release() { await finishFid(fid) }
            throw error
        }
        if fid.release() { await finishFid(fid) }
        return outcome
    }

    /// Runs `body` for a fid just taken out of the table, then retires it (closing its file once
    /// no other request uses it), whether `body` succeeds or throws.
    private func retiring(_ fid: Fid, _ body: () async throws -> Outcome) async throws -> Outcome {
        let outcome: Outcome
        do {
            outcome = try await body()
        } catch {
            if fid.retire() { await finishFid(fid) }
            throw error
        }
        if fid.retire() { await finishFid(fid) }
        return outcome
    }

    private func requireUnused(_ number: UInt32) throws {
        guard number != NineP.noFid else { throw NinePError.invalid }
        guard state.withLock({ $0.fids[number] == nil }) else { throw NinePError.badFid }
    }

    /// Removes fid `number` from the table (Tclunk, Tremove).
    private func take(_ number: UInt32) throws -> Fid {
        guard let fid = state.withLock({ $0.fids.removeValue(forKey: number) }) else { throw NinePError.badFid }
        return fid
    }
}
