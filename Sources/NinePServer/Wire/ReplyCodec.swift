extension NineP {
    /// Encodes a reply frame.
    ///
    /// Throws `.stringTooLong`/`.embeddedNUL` for unrepresentable strings,
    /// `.tooManyWalkQids` above 16 qids, `.countTooLarge` for an Rread/Rreaddir payload
    /// above ``maxIOCount(msize:)`` of `maxSize`, and `.messageTooLarge` if the frame
    /// exceeds `maxSize`. A server passes the negotiated msize so that it can never send
    /// a frame the client did not agree to receive.
    public static func encodeReply(
        tag: UInt16, _ reply: RMessage, maxSize: UInt32 = .max
    ) throws(NinePWireError) -> [UInt8] {
        var w = WireWriter(type: reply.type, tag: tag, capacity: reply.encodedSizeHint)
        switch reply {
        case let .version(msize, version):
            w.writeUInt32(msize); try w.writeString(version)
        case let .auth(qid), let .attach(qid), let .symlink(qid), let .mknod(qid), let .mkdir(qid):
            w.writeQid(qid)
        case let .lerror(errno):
            w.writeUInt32(errno)
        case .flush, .clunk, .remove, .rename, .setattr, .xattrcreate, .fsync, .link, .renameat, .unlinkat:
            break
        case let .walk(qids):
            guard qids.count <= maxWalkElements else { throw .tooManyWalkQids(qids.count) }
            w.writeUInt16(UInt16(qids.count))
            for qid in qids { w.writeQid(qid) }
        case let .read(data), let .readdir(data):
            let limit = maxIOCount(msize: maxSize)
            guard data.count <= Int(limit) else { throw .countTooLarge(count: UInt32(clamping: data.count), limit: limit) }
            w.writeUInt32(UInt32(data.count)); w.writeBytes(data)
        case let .write(count):
            w.writeUInt32(count)
        case let .statfs(stats):
            stats.encode(into: &w)
        case let .lopen(qid, iounit), let .lcreate(qid, iounit):
            w.writeQid(qid); w.writeUInt32(iounit)
        case let .readlink(target):
            try w.writeString(target)
        case let .getattr(attributes):
            attributes.encode(into: &w)
        case let .xattrwalk(size):
            w.writeUInt64(size)
        case let .lock(status):
            w.writeUInt8(status)
        case let .getlock(lock):
            try lock.encode(into: &w)
        }
        return try (consume w).finishFrame(maxSize: maxSize)
    }

    /// The bytes an Rread needs in front of its data: size[4] type[1] tag[2] count[4].
    public static let readReplyHeaderSize = headerSize + 4

    /// Makes an Rread frame in place from `buffer`: ``readReplyHeaderSize`` bytes of room (any
    /// content) followed by the data, so that data read straight into a buffer is never
    /// copied. Throws `.countTooLarge` for data above ``maxIOCount(msize:)`` of `maxSize`, as
    /// ``encodeReply(tag:_:maxSize:)`` would, and `.messageTooSmall` if there is no room.
    public static func finishReadReply(tag: UInt16, in buffer: inout [UInt8],
                                       maxSize: UInt32 = .max) throws(NinePWireError)
    {
        guard buffer.count >= readReplyHeaderSize else { throw .messageTooSmall(size: UInt32(buffer.count)) }
        let count = buffer.count - readReplyHeaderSize
        let limit = maxIOCount(msize: maxSize)
        guard count <= Int(limit) else { throw .countTooLarge(count: UInt32(clamping: count), limit: limit) }
        buffer[4] = NinePMessageType.rread.rawValue
        buffer[5] = UInt8(truncatingIfNeeded: tag)
        buffer[6] = UInt8(truncatingIfNeeded: tag >> 8)
        for i in 0..<4 { buffer[7 + i] = UInt8(truncatingIfNeeded: UInt32(count) >> (8 * i)) }
        patchSize(of: &buffer)
    }

    /// Writes `frame.count` into a frame's size field (its first 4 bytes; there must be 4).
    static func patchSize(of frame: inout [UInt8]) {
        let size = UInt32(truncatingIfNeeded: frame.count)
        for i in 0..<4 { frame[i] = UInt8(truncatingIfNeeded: size >> (8 * i)) }
    }

    /// Decodes one complete reply frame (for our own client and for tests).
    ///
    /// Applies the same framing checks as ``decodeRequest(_:msize:)``; additionally Rwalk
    /// carries at most 16 qids and Rread/Rreaddir counts must be ≤ msize − 11 and equal
    /// the payload length. Rerror (9P2000 only) and request types throw `.unknownType`.
    public static func decodeReply(
        _ bytes: [UInt8], msize: UInt32 = .max
    ) throws(NinePWireError) -> (tag: UInt16, message: RMessage) {
        var r = WireReader(bytes)
        let header = try FrameHeader(reading: &r, msize: msize)
        guard let type = NinePMessageType(rawValue: header.type) else { throw .unknownType(header.type) }
        let message: RMessage
        switch type {
        case .rversion: message = .version(msize: try r.readUInt32(), version: try r.readString())
        case .rauth: message = .auth(aqid: try r.readQid())
        case .rattach: message = .attach(qid: try r.readQid())
        case .rlerror: message = .lerror(errno: try r.readUInt32())
        case .rflush: message = .flush
        case .rwalk:
            let count = Int(try r.readUInt16())
            guard count <= maxWalkElements else { throw .tooManyWalkQids(count) }
            var qids: [Qid] = []
            qids.reserveCapacity(count)
            for _ in 0..<count { qids.append(try r.readQid()) }
            message = .walk(qids: qids)
        case .rread, .rreaddir:
            let count = try r.readUInt32()
            let limit = maxIOCount(msize: msize)
            guard count <= limit else { throw .countTooLarge(count: count, limit: limit) }
            guard Int(count) == r.remaining else { throw .countMismatch(count: count, payload: r.remaining) }
            let data = try r.readBytes(Int(count))
            message = type == .rread ? .read(data: data) : .readdir(data: data)
        case .rwrite: message = .write(count: try r.readUInt32())
        case .rclunk: message = .clunk
        case .rremove: message = .remove
        case .rstatfs: message = .statfs(try FilesystemStatistics(from: &r))
        case .rlopen: message = .lopen(qid: try r.readQid(), iounit: try r.readUInt32())
        case .rlcreate: message = .lcreate(qid: try r.readQid(), iounit: try r.readUInt32())
        case .rsymlink: message = .symlink(qid: try r.readQid())
        case .rmknod: message = .mknod(qid: try r.readQid())
        case .rrename: message = .rename
        case .rreadlink: message = .readlink(target: try r.readString())
        case .rgetattr: message = .getattr(try Attributes(from: &r))
        case .rsetattr: message = .setattr
        case .rxattrwalk: message = .xattrwalk(size: try r.readUInt64())
        case .rxattrcreate: message = .xattrcreate
        case .rfsync: message = .fsync
        case .rlock: message = .lock(status: try r.readUInt8())
        case .rgetlock: message = .getlock(try LockQuery(from: &r))
        case .rlink: message = .link
        case .rmkdir: message = .mkdir(qid: try r.readQid())
        case .rrenameat: message = .renameat
        case .runlinkat: message = .unlinkat
        case .rerror, .ropen, .rcreate,
             .tlerror, .tstatfs, .tlopen, .tlcreate, .tsymlink, .tmknod, .trename, .treadlink,
             .tgetattr, .tsetattr, .txattrwalk, .txattrcreate, .treaddir, .tfsync, .tlock, .tgetlock,
             .tlink, .tmkdir, .trenameat, .tunlinkat, .tversion, .tauth, .tattach, .terror, .tflush,
             .twalk, .topen, .tcreate, .tread, .twrite, .tclunk, .tremove:
            throw .unknownType(header.type)
        }
        try r.finish()
        return (header.tag, message)
    }
}

extension RMessage {
    /// A capacity that holds the encoded frame without regrowing, for the bulky replies.
    var encodedSizeHint: Int {
        switch self {
        case let .read(data), let .readdir(data): NineP.headerSize + 4 + data.count
        case let .walk(qids): NineP.headerSize + 2 + 13 * qids.count
        case .getattr: 176
        default: 64
        }
    }
}
