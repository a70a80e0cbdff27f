import Testing
@testable import NinePServer

/// Frames written out by hand from the protocol description, so the encoder is checked
/// against something other than its own decoder.
@Suite("Known-answer frames")
struct KnownAnswerTests {
    func check(_ message: TMessage, tag: UInt16, _ hex: String) throws {
        let expected = Fixtures.hex(hex)
        #expect(try NineP.encodeRequest(tag: tag, message) == expected)
        let decoded = try NineP.decodeRequest(expected, msize: 8192)
        #expect(decoded.tag == tag && decoded.message == message)
    }

    func check(_ message: RMessage, tag: UInt16, _ hex: String) throws {
        let expected = Fixtures.hex(hex)
        #expect(try NineP.encodeReply(tag: tag, message) == expected)
        let decoded = try NineP.decodeReply(expected, msize: 8192)
        #expect(decoded.tag == tag && decoded.message == message)
    }

    @Test func tversion() throws {
        // size 21, type 100, tag NOTAG, msize 8192, "9P2000.L"
        try check(TMessage.version(msize: 8192, version: "9P2000.L"), tag: 0xFFFF,
                  "15 00 00 00 64 ff ff 00 20 00 00 08 00 39 50 32 30 30 30 2e 4c")
    }

    @Test func rlerrorENOENT() throws {
        try check(RMessage.lerror(errno: 2), tag: 1, "0b 00 00 00 07 01 00 02 00 00 00")
    }

    @Test func twalkTwoNames() throws {
        // fid 1, newfid 2, nwname 2, "usr", "bin"
        try check(TMessage.walk(fid: 1, newFid: 2, names: ["usr", "bin"]), tag: 3,
                  "1b 00 00 00 6e 03 00 01 00 00 00 02 00 00 00 02 00 03 00 75 73 72 03 00 62 69 6e")
    }

    @Test func tread() throws {
        try check(TMessage.read(fid: 7, offset: 0x0102_0304_0506_0708, count: 4096), tag: 5,
                  "17 00 00 00 74 05 00 07 00 00 00 08 07 06 05 04 03 02 01 00 10 00 00")
    }

    @Test func tattachWithNoAfid() throws {
        // fid 0, afid NOFID, uname "u", aname "", n_uname 1000
        try check(TMessage.attach(fid: 0, afid: NineP.noFid, uname: "u", aname: "", nUname: 1000), tag: 1,
                  "18 00 00 00 68 01 00 00 00 00 00 ff ff ff ff 01 00 75 00 00 e8 03 00 00")
    }

    @Test func rattachQid() throws {
        // qid type QTDIR, version 0, path 1
        try check(RMessage.attach(qid: Qid(type: 0x80, version: 0, path: 1)), tag: 1,
                  "14 00 00 00 69 01 00 80 00 00 00 00 01 00 00 00 00 00 00 00")
    }

    @Test func twriteThreeBytes() throws {
        try check(TMessage.write(fid: 2, offset: 16, data: [0x61, 0x62, 0x63]), tag: 9,
                  "1a 00 00 00 76 09 00 02 00 00 00 10 00 00 00 00 00 00 00 03 00 00 00 61 62 63")
    }

    @Test func fixedBodySizes() throws {
        #expect(try NineP.encodeReply(tag: 0, .getattr(Fixtures.attributes)).count == 7 + Attributes.wireSize)
        #expect(try NineP.encodeReply(tag: 0, .statfs(FilesystemStatistics())).count == 7 + 60)
        #expect(try NineP.encodeRequest(tag: 0, .setattr(fid: 0, attributes: SetAttributes())).count == 7 + 4 + 56)
        #expect(try NineP.encodeReply(tag: 0, .flush) == [7, 0, 0, 0, 109, 0, 0])
    }
}
