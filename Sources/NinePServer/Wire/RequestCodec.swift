extension NineP {
    /// Decodes one complete request frame from an untrusted client.
    ///
    /// Guarantees: never traps, never allocates more than `bytes.count` plus a bounded
    /// constant, and consumes the frame exactly. Checks the header as
    /// ``FrameHeader/init(validating:msize:)`` does, then every field: strings must fit
    /// and be NUL-free UTF-8, Twalk carries at most 16 names, a Twrite count must be
    /// ≤ msize − 23 (`.countTooLarge`) and equal the payload length (`.countMismatch`),
    /// and no byte may follow the last field (`.trailingBytes`). Tread/Treaddir counts
    /// are returned as sent; the server clamps them with ``maxIOCount(msize:)``.
    /// Non-.L and reply types throw `.unknownType`.
    public static func decodeRequest(
        _ bytes: [UInt8], msize: UInt32
    ) throws(NinePWireError) -> (tag: UInt16, message: TMessage) {
        var r = WireReader(bytes)
        let header = try FrameHeader(reading: &r, msize: msize)
        guard let type = NinePMessageType(rawValue: header.type) else { throw .unknownType(header.type) }
        let message: TMessage
        switch type {
        case .tversion:
            message = .version(msize: try r.readUInt32(), version: try r.readString())
        case .tauth:
            message = .auth(afid: try r.readUInt32(), uname: try r.readString(),
                            aname: try r.readString(), nUname: try r.readUInt32())
        case .tattach:
            message = .attach(fid: try r.readUInt32(), afid: try r.readUInt32(), uname: try r.readString(),
                              aname: try r.readString(), nUname: try r.readUInt32())
        case .tflush:
            message = .flush(oldTag: try r.readUInt16())
        case .twalk:
            let fid = try r.readUInt32()
            let newFid = try r.readUInt32()
            let count = Int(try r.readUInt16())
            guard count <= maxWalkElements else { throw .tooManyWalkNames(count) }
            var names: [String] = []
            names.reserveCapacity(count)
            for _ in 0..<count { names.append(try r.readString()) }
            message = .walk(fid: fid, newFid: newFid, names: names)
        case .tread:
            message = .read(fid: try r.readUInt32(), offset: try r.readUInt64(), count: try r.readUInt32())
        case .twrite:
            let fid = try r.readUInt32()
            let offset = try r.readUInt64()
            let count = try r.readUInt32()
            let limit = maxWriteCount(msize: msize)
            guard count <= limit else { throw .countTooLarge(count: count, limit: limit) }
            guard Int(count) == r.remaining else { throw .countMismatch(count: count, payload: r.remaining) }
            message = .write(fid: fid, offset: offset, data: try r.readBytes(Int(count)))
        case .tclunk:
            message = .clunk(fid: try r.readUInt32())
        case .tremove:
            message = .remove(fid: try r.readUInt32())
        case .tstatfs:
            message = .statfs(fid: try r.readUInt32())
        case .tlopen:
            message = .lopen(fid: try r.readUInt32(), flags: try r.readUInt32())
        case .tlcreate:
            message = .lcreate(fid: try r.readUInt32(), name: try r.readString(), flags: try r.readUInt32(),
                               mode: try r.readUInt32(), gid: try r.readUInt32())
        case .tsymlink:
            message = .symlink(fid: try r.readUInt32(), name: try r.readString(),
                               target: try r.readString(), gid: try r.readUInt32())
        case .tmknod:
            message = .mknod(dirFid: try r.readUInt32(), name: try r.readString(), mode: try r.readUInt32(),
                             major: try r.readUInt32(), minor: try r.readUInt32(), gid: try r.readUInt32())
        case .trename:
            message = .rename(fid: try r.readUInt32(), dirFid: try r.readUInt32(), name: try r.readString())
        case .treadlink:
            message = .readlink(fid: try r.readUInt32())
        case .tgetattr:
            message = .getattr(fid: try r.readUInt32(), requestMask: try r.readUInt64())
        case .tsetattr:
            message = .setattr(fid: try r.readUInt32(), attributes: try SetAttributes(from: &r))
        case .txattrwalk:
            message = .xattrwalk(fid: try r.readUInt32(), newFid: try r.readUInt32(), name: try r.readString())
        case .txattrcreate:
            message = .xattrcreate(fid: try r.readUInt32(), name: try r.readString(),
                                   attrSize: try r.readUInt64(), flags: try r.readUInt32())
        case .treaddir:
            message = .readdir(fid: try r.readUInt32(), offset: try r.readUInt64(), count: try r.readUInt32())
        case .tfsync:
            message = .fsync(fid: try r.readUInt32(), datasync: try r.readUInt32())
        case .tlock:
            message = .lock(fid: try r.readUInt32(), lock: try LockRequest(from: &r))
        case .tgetlock:
            message = .getlock(fid: try r.readUInt32(), lock: try LockQuery(from: &r))
        case .tlink:
            message = .link(dirFid: try r.readUInt32(), fid: try r.readUInt32(), name: try r.readString())
        case .tmkdir:
            message = .mkdir(dirFid: try r.readUInt32(), name: try r.readString(),
                             mode: try r.readUInt32(), gid: try r.readUInt32())
        case .trenameat:
            message = .renameat(oldDirFid: try r.readUInt32(), oldName: try r.readString(),
                                newDirFid: try r.readUInt32(), newName: try r.readString())
        case .tunlinkat:
            message = .unlinkat(dirFid: try r.readUInt32(), name: try r.readString(), flags: try r.readUInt32())
        case .tlerror, .terror, .topen, .tcreate,
             .rlerror, .rstatfs, .rlopen, .rlcreate, .rsymlink, .rmknod, .rrename, .rreadlink,
             .rgetattr, .rsetattr, .rxattrwalk, .rxattrcreate, .rreaddir, .rfsync, .rlock, .rgetlock,
             .rlink, .rmkdir, .rrenameat, .runlinkat, .rversion, .rauth, .rattach, .rerror, .rflush,
             .rwalk, .ropen, .rcreate, .rread, .rwrite, .rclunk, .rremove:
            throw .unknownType(header.type)
        }
        try r.finish()
        return (header.tag, message)
    }

    /// Decodes a request held in raw memory (e.g. a virtqueue buffer); copies it first.
    public static func decodeRequest(
        _ bytes: UnsafeRawBufferPointer, msize: UInt32
    ) throws(NinePWireError) -> (tag: UInt16, message: TMessage) {
        try decodeRequest(Array(bytes), msize: msize)
    }

    /// Encodes a request frame (for our own client and for tests).
    ///
    /// Throws `.stringTooLong`/`.embeddedNUL` for unrepresentable strings,
    /// `.tooManyWalkNames` above 16 names, `.countTooLarge` for a Twrite payload above
    /// `maxWriteCount(msize: maxSize)`, and `.messageTooLarge` if the frame exceeds `maxSize`.
    /// Whatever this returns, ``decodeRequest(_:msize:)`` with `msize: maxSize` accepts.
    public static func encodeRequest(
        tag: UInt16, _ message: TMessage, maxSize: UInt32 = .max
    ) throws(NinePWireError) -> [UInt8] {
        var w = WireWriter(type: message.type, tag: tag)
        switch message {
        case let .version(msize, version):
            w.writeUInt32(msize); try w.writeString(version)
        case let .auth(afid, uname, aname, nUname):
            w.writeUInt32(afid); try w.writeString(uname); try w.writeString(aname); w.writeUInt32(nUname)
        case let .attach(fid, afid, uname, aname, nUname):
            w.writeUInt32(fid); w.writeUInt32(afid); try w.writeString(uname); try w.writeString(aname)
            w.writeUInt32(nUname)
        case let .flush(oldTag):
            w.writeUInt16(oldTag)
        case let .walk(fid, newFid, names):
            guard names.count <= maxWalkElements else { throw .tooManyWalkNames(names.count) }
            w.writeUInt32(fid); w.writeUInt32(newFid); w.writeUInt16(UInt16(names.count))
            for name in names { try w.writeString(name) }
        case let .read(fid, offset, count):
            w.writeUInt32(fid); w.writeUInt64(offset); w.writeUInt32(count)
        case let .write(fid, offset, data):
            let limit = maxWriteCount(msize: maxSize)
            guard data.count <= Int(limit) else { throw .countTooLarge(count: UInt32(clamping: data.count), limit: limit) }
            w.writeUInt32(fid); w.writeUInt64(offset); w.writeUInt32(UInt32(data.count)); w.writeBytes(data)
        case let .clunk(fid), let .remove(fid), let .statfs(fid), let .readlink(fid):
            w.writeUInt32(fid)
        case let .lopen(fid, flags):
            w.writeUInt32(fid); w.writeUInt32(flags)
        case let .lcreate(fid, name, flags, mode, gid):
            w.writeUInt32(fid); try w.writeString(name); w.writeUInt32(flags); w.writeUInt32(mode); w.writeUInt32(gid)
        case let .symlink(fid, name, target, gid):
            w.writeUInt32(fid); try w.writeString(name); try w.writeString(target); w.writeUInt32(gid)
        case let .mknod(dirFid, name, mode, major, minor, gid):
            w.writeUInt32(dirFid); try w.writeString(name); w.writeUInt32(mode); w.writeUInt32(major)
            w.writeUInt32(minor); w.writeUInt32(gid)
        case let .rename(fid, dirFid, name):
            w.writeUInt32(fid); w.writeUInt32(dirFid); try w.writeString(name)
        case let .getattr(fid, requestMask):
            w.writeUInt32(fid); w.writeUInt64(requestMask)
        case let .setattr(fid, attributes):
            w.writeUInt32(fid); attributes.encode(into: &w)
        case let .xattrwalk(fid, newFid, name):
            w.writeUInt32(fid); w.writeUInt32(newFid); try w.writeString(name)
        case let .xattrcreate(fid, name, attrSize, flags):
            w.writeUInt32(fid); try w.writeString(name); w.writeUInt64(attrSize); w.writeUInt32(flags)
        case let .readdir(fid, offset, count):
            w.writeUInt32(fid); w.writeUInt64(offset); w.writeUInt32(count)
        case let .fsync(fid, datasync):
            w.writeUInt32(fid); w.writeUInt32(datasync)
        case let .lock(fid, lock):
            w.writeUInt32(fid); try lock.encode(into: &w)
        case let .getlock(fid, lock):
            w.writeUInt32(fid); try lock.encode(into: &w)
        case let .link(dirFid, fid, name):
            w.writeUInt32(dirFid); w.writeUInt32(fid); try w.writeString(name)
        case let .mkdir(dirFid, name, mode, gid):
            w.writeUInt32(dirFid); try w.writeString(name); w.writeUInt32(mode); w.writeUInt32(gid)
        case let .renameat(oldDirFid, oldName, newDirFid, newName):
            w.writeUInt32(oldDirFid); try w.writeString(oldName); w.writeUInt32(newDirFid); try w.writeString(newName)
        case let .unlinkat(dirFid, name, flags):
            w.writeUInt32(dirFid); try w.writeString(name); w.writeUInt32(flags)
        }
        return try (consume w).finishFrame(maxSize: maxSize)
    }
}
