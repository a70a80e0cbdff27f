import Testing
@testable import NinePServer

@Suite("Malformed input corpus")
struct MalformedInputTests {
    typealias F = Fixtures
    let tversion = F.hex("15 00 00 00 64 ff ff 00 20 00 00 08 00 39 50 32 30 30 30 2e 4c")

    @Test func framing() {
        expectRequestError([], .truncated(needed: 4, available: 0))
        expectRequestError([0x15, 0x00], .truncated(needed: 4, available: 2))
        var larger = tversion; larger[0] = 22
        expectRequestError(larger, .sizeMismatch(declared: 22, actual: 21))
        var smaller = tversion; smaller[0] = 20
        expectRequestError(smaller, .sizeMismatch(declared: 20, actual: 21))
        expectRequestError([6, 0, 0, 0, 100, 0, 0], .messageTooSmall(size: 6))
        expectRequestError([0, 0, 0, 0], .messageTooSmall(size: 0))
        expectRequestError([7, 0, 0, 0, 120], .sizeMismatch(declared: 7, actual: 5))
        expectRequestError(F.le32(8193) + [100, 0, 0], .messageTooLarge(size: 8193, msize: 8192))
        expectRequestError(F.le32(.max) + [100, 0, 0], .messageTooLarge(size: .max, msize: 8192))
        // A frame that is fine at one msize is refused at a smaller one.
        expectRequestError(tversion, msize: 20, .messageTooLarge(size: 21, msize: 20))
    }

    @Test("Unknown and wrong-direction types", arguments: [0, 5, 6, 7, 10, 101, 106, 107, 112, 113, 114, 117, 124, 255] as [UInt8])
    func unknownRequestType(_ type: UInt8) {
        expectRequestError(F.frame(type, F.le32(1)), .unknownType(type))
    }

    @Test("Reply decoder refuses Rerror, Ropen and T-types", arguments: [100, 106, 107, 113, 116, 2] as [UInt8])
    func unknownReplyType(_ type: UInt8) {
        expectReplyError(F.frame(type, F.le32(1)), .unknownType(type))
    }

    @Test func strings() {
        // Tversion: the string's length prefix sits at offset 11.
        expectRequestError(F.frame(100, F.le32(8192) + F.le16(100) + Array("9P".utf8)), .truncated(needed: 100, available: 2))
        expectRequestError(F.frame(100, F.le32(8192) + [8]), .truncated(needed: 2, available: 1))
        for bad: [UInt8] in [[0xC3, 0x28], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xFF], [0xE6, 0x97], [0xF4, 0x90, 0x80, 0x80]] {
            expectRequestError(F.frame(100, F.le32(8192) + F.str(bad)), .invalidUTF8(offset: 11))
        }
        expectRequestError(F.frame(100, F.le32(8192) + F.str([0x61, 0x00, 0x62])), .embeddedNUL(offset: 11))
        expectRequestError(F.frame(100, F.le32(8192) + F.str([0x00])), .embeddedNUL(offset: 11))
        // Second string of a Tattach: fid afid uname("u") -> aname prefix at 7+4+4+3 = 18.
        expectRequestError(F.frame(104, F.le32(0) + F.le32(0) + F.str("u") + F.str([0xC3]) + F.le32(0)),
                           .invalidUTF8(offset: 18))
        // A Twalk name with NUL: fid newfid nwname then first name at 7+10 = 17.
        expectRequestError(F.frame(110, F.le32(0) + F.le32(1) + F.le16(1) + F.str([0x2F, 0x00])), .embeddedNUL(offset: 17))
    }

    @Test func walkLimits() throws {
        let names17 = (0..<17).flatMap { F.str("n\($0)") }
        expectRequestError(F.frame(110, F.le32(0) + F.le32(1) + F.le16(17) + names17), .tooManyWalkNames(17))
        expectRequestError(F.frame(110, F.le32(0) + F.le32(1) + F.le16(300)), .tooManyWalkNames(300))
        expectRequestError(F.frame(110, F.le32(0) + F.le32(1) + F.le16(0xFFFF)), .tooManyWalkNames(65535))
        // Announced 2 names, delivered 1.
        expectRequestError(F.frame(110, F.le32(0) + F.le32(1) + F.le16(2) + F.str("a")), .truncated(needed: 2, available: 0))
        expectReplyError(F.frame(111, F.le16(17) + Array(repeating: 0, count: 17 * 13)), .tooManyWalkQids(17))
    }

    @Test func writeCounts() {
        let head = F.le32(1) + F.le64(0)
        expectRequestError(F.frame(118, head + F.le32(10) + [1, 2, 3, 4, 5]), .countMismatch(count: 10, payload: 5))
        expectRequestError(F.frame(118, head + F.le32(3) + [1, 2, 3, 4, 5]), .countMismatch(count: 3, payload: 5))
        expectRequestError(F.frame(118, head + F.le32(8170) + [1]), .countTooLarge(count: 8170, limit: 8169))
        expectRequestError(F.frame(118, head + F.le32(.max)), .countTooLarge(count: .max, limit: 8169))
        expectRequestError(F.frame(118, head + [0, 0]), .truncated(needed: 4, available: 2))
        expectReplyError(F.frame(117, F.le32(4) + [1, 2]), .countMismatch(count: 4, payload: 2))
        expectReplyError(F.frame(41, F.le32(8182)), .countTooLarge(count: 8182, limit: 8181))
    }

    @Test func trailingAndMissingBytes() {
        expectRequestError(F.frame(120, F.le32(1) + [0, 0]), .trailingBytes(2))
        expectRequestError(F.frame(120, [1, 0]), .truncated(needed: 4, available: 2))
        expectRequestError(F.frame(108, F.le16(1) + [0]), .trailingBytes(1))
        expectRequestError(F.frame(24, F.le32(1) + F.le32(0)), .truncated(needed: 8, available: 4))
        expectRequestError(F.frame(26, F.le32(1) + Array(repeating: 0, count: 55)), .truncated(needed: 8, available: 7))
        expectReplyError(F.frame(109, [0]), .trailingBytes(1))
        expectReplyError(F.frame(25, Array(repeating: 0, count: 152)), .truncated(needed: 8, available: 7))
    }

    @Test func encoderRefusesUnrepresentableMessages() {
        func expectEncodeError(_ expected: NinePWireError, sourceLocation: SourceLocation = #_sourceLocation,
                               _ body: () throws(NinePWireError) -> [UInt8]) {
            do {
                _ = try body()
                Issue.record("encoded, expected \(expected)", sourceLocation: sourceLocation)
            } catch {
                #expect(error == expected, sourceLocation: sourceLocation)
            }
        }
        let names = (0..<17).map { "n\($0)" }
        expectEncodeError(.tooManyWalkNames(17)) { () throws(NinePWireError) in
            try NineP.encodeRequest(tag: 1, .walk(fid: 0, newFid: 1, names: names))
        }
        expectEncodeError(.tooManyWalkQids(17)) { () throws(NinePWireError) in
            try NineP.encodeReply(tag: 1, .walk(qids: Array(repeating: Fixtures.qidA, count: 17)))
        }
        expectEncodeError(.embeddedNUL(offset: 11)) { () throws(NinePWireError) in
            try NineP.encodeRequest(tag: 1, .version(msize: 1, version: "a\u{0}b"))
        }
        expectEncodeError(.stringTooLong(length: 70000)) { () throws(NinePWireError) in
            try NineP.encodeReply(tag: 1, .readlink(target: String(repeating: "x", count: 70000)))
        }
        expectEncodeError(.countTooLarge(count: 8182, limit: 8181)) { () throws(NinePWireError) in
            try NineP.encodeReply(tag: 1, .read(data: Array(repeating: 0, count: 8182)), maxSize: 8192)
        }
        expectEncodeError(.countTooLarge(count: 8170, limit: 8169)) { () throws(NinePWireError) in
            try NineP.encodeRequest(tag: 1, .write(fid: 1, offset: 0, data: Array(repeating: 0, count: 8170)), maxSize: 8192)
        }
        expectEncodeError(.messageTooLarge(size: 21, msize: 20)) { () throws(NinePWireError) in
            try NineP.encodeRequest(tag: 1, .version(msize: 1, version: "9P2000.L"), maxSize: 20)
        }
    }

    @Test func headerPeekGivesTagForErrorReplies() throws {
        let bad = F.frame(120, tag: 77, F.le32(1) + [0])
        let header = try FrameHeader(validating: bad, msize: 8192)
        #expect(header == FrameHeader(size: 12, type: 120, tag: 77))
        expectRequestError(bad, .trailingBytes(1))
        #expect(NinePWireError.trailingBytes(1).errno == 22)
        #expect(NinePWireError.unknownType(112).errno == 95)
        #expect(NinePWireError.messageTooLarge(size: 1, msize: 0).errno == 90)
        #expect(NinePWireError.tooManyWalkNames(300).description.contains("300"))
    }
}
