import Testing
@testable import NinePServer

/// Sample messages covering every T- and R-message, with awkward values where they matter.
enum Fixtures {
    static let qidA = Qid(type: Qid.typeDirectory, version: 0xDEAD_BEEF, path: 0x0123_4567_89AB_CDEF)
    static let qidB = Qid(type: Qid.typeSymlink, version: 1, path: .max)
    static let unicode = "héllo-wörld-日本語-🦀"

    static let requests: [TMessage] = [
        .version(msize: 8192, version: "9P2000.L"),
        .auth(afid: 5, uname: "root", aname: "/export", nUname: 0),
        .attach(fid: 0, afid: NineP.noFid, uname: "user", aname: "", nUname: 1000),
        .flush(oldTag: 42),
        .walk(fid: 1, newFid: 2, names: []),
        .walk(fid: 1, newFid: 2, names: ["usr", unicode]),
        .walk(fid: 1, newFid: 3, names: (0..<16).map { "n\($0)" }),
        .read(fid: 9, offset: .max, count: .max),
        .write(fid: 9, offset: 4096, data: []),
        .write(fid: 9, offset: 0, data: Array(0...255)),
        .clunk(fid: 7),
        .remove(fid: 8),
        .statfs(fid: 1),
        .lopen(fid: 3, flags: 0o100002),
        .lcreate(fid: 3, name: unicode, flags: 0o101, mode: 0o644, gid: 100),
        .symlink(fid: 3, name: "link", target: "../target/日本", gid: 0),
        .mknod(dirFid: 3, name: "null", mode: 0o20666, major: 1, minor: 3, gid: 0),
        .rename(fid: 4, dirFid: 3, name: "new"),
        .readlink(fid: 4),
        .getattr(fid: 4, requestMask: Attributes.maskAll),
        .setattr(fid: 4, attributes: SetAttributes(
            valid: 0x1FF, mode: 0o755, uid: 1, gid: 2, size: 1 << 40,
            atimeSeconds: 1, atimeNanoseconds: 999_999_999, mtimeSeconds: .max, mtimeNanoseconds: 0)),
        .xattrwalk(fid: 4, newFid: 5, name: "user.comment"),
        .xattrcreate(fid: 5, name: "security.selinux", attrSize: 64, flags: 1),
        .readdir(fid: 6, offset: 123, count: 8181),
        .fsync(fid: 6, datasync: 1),
        .lock(fid: 6, lock: LockRequest(type: 1, flags: 1, start: 0, length: 0, processID: 4242, clientID: "guest")),
        .getlock(fid: 6, lock: LockQuery(type: 0, start: 10, length: 20, processID: 1, clientID: "")),
        .link(dirFid: 3, fid: 4, name: "hard"),
        .mkdir(dirFid: 3, name: "dir", mode: 0o755, gid: 0),
        .renameat(oldDirFid: 3, oldName: "a", newDirFid: 4, newName: unicode),
        .unlinkat(dirFid: 3, name: "gone", flags: 0x200),
    ]

    static let attributes = Attributes(
        valid: Attributes.maskAll, qid: qidA, mode: 0o40755, uid: 1000, gid: 1000, nlink: 2, rdev: 0,
        size: 4096, blockSize: 4096, blocks: 8, atimeSeconds: 1, atimeNanoseconds: 2, mtimeSeconds: 3,
        mtimeNanoseconds: 4, ctimeSeconds: 5, ctimeNanoseconds: 6, btimeSeconds: 7, btimeNanoseconds: 8,
        generation: 9, dataVersion: .max)

    static let replies: [RMessage] = [
        .version(msize: 65536, version: "9P2000.L"),
        .version(msize: 8192, version: "unknown"),
        .auth(aqid: qidA),
        .attach(qid: qidB),
        .lerror(errno: 2),
        .flush,
        .walk(qids: []),
        .walk(qids: Array(repeating: qidA, count: 16)),
        .read(data: []),
        .read(data: Array(repeating: 0xA5, count: 1000)),
        .write(count: 1000),
        .clunk,
        .remove,
        .statfs(FilesystemStatistics(type: 0x0102_1994, blockSize: 4096, blocks: 1 << 30, blocksFree: 5,
                                     blocksAvailable: 4, files: 100, filesFree: 50, fsid: .max, nameLength: 255)),
        .lopen(qid: qidA, iounit: 0),
        .lcreate(qid: qidB, iounit: 8169),
        .symlink(qid: qidB),
        .mknod(qid: qidA),
        .rename,
        .readlink(target: "/usr/" + unicode),
        .getattr(attributes),
        .setattr,
        .xattrwalk(size: 77),
        .xattrcreate,
        .readdir(data: []),
        .readdir(data: try! DirectoryEntry.pack(
            [DirectoryEntry(qid: qidA, offset: 1, type: 4, name: "."),
             DirectoryEntry(qid: qidB, offset: 2, type: 10, name: unicode)], limit: 4096).data),
        .fsync,
        .lock(status: 0),
        .getlock(LockQuery(type: 2, start: 0, length: .max, processID: 7, clientID: "other-host")),
        .link,
        .mkdir(qid: qidA),
        .renameat,
        .unlinkat,
    ]

    /// Builds a frame with a correct size field around `body`.
    static func frame(_ type: UInt8, tag: UInt16 = 1, _ body: [UInt8]) -> [UInt8] {
        let size = UInt32(7 + body.count)
        return le32(size) + [type] + le16(tag) + body
    }

    static func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
    static func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    static func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    static func str(_ bytes: [UInt8]) -> [UInt8] { le16(UInt16(bytes.count)) + bytes }
    static func str(_ s: String) -> [UInt8] { str(Array(s.utf8)) }

    /// Parses "15 00 ff" style hex.
    static func hex(_ text: String) -> [UInt8] {
        text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map { UInt8($0, radix: 16)! }
    }
}

/// Asserts that decoding `bytes` as a request throws exactly `expected`.
func expectRequestError(
    _ bytes: [UInt8], msize: UInt32 = 8192, _ expected: NinePWireError,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    do {
        let decoded = try NineP.decodeRequest(bytes, msize: msize)
        Issue.record("expected \(expected), decoded \(decoded)", sourceLocation: sourceLocation)
    } catch {
        #expect(error == expected, sourceLocation: sourceLocation)
    }
}

/// Asserts that decoding `bytes` as a reply throws exactly `expected`.
func expectReplyError(
    _ bytes: [UInt8], msize: UInt32 = 8192, _ expected: NinePWireError,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    do {
        let decoded = try NineP.decodeReply(bytes, msize: msize)
        Issue.record("expected \(expected), decoded \(decoded)", sourceLocation: sourceLocation)
    } catch {
        #expect(error == expected, sourceLocation: sourceLocation)
    }
}
