import Testing
@testable import NinePServer

@Suite("Wire round trips")
struct RoundTripTests {
    @Test("Every T-message re-decodes to itself", arguments: Fixtures.requests)
    func requestRoundTrip(_ message: TMessage) throws {
        let bytes = try NineP.encodeRequest(tag: 0x1234, message)
        #expect(bytes.count >= NineP.headerSize)
        #expect(bytes[4] == message.type.rawValue)
        let decoded = try NineP.decodeRequest(bytes, msize: 65536)
        #expect(decoded.tag == 0x1234)
        #expect(decoded.message == message)
        let viaPointer = try bytes.withUnsafeBytes { raw in try NineP.decodeRequest(raw, msize: 65536) }
        #expect(viaPointer.message == message)
    }

    @Test("Every R-message re-decodes to itself", arguments: Fixtures.replies)
    func replyRoundTrip(_ message: RMessage) throws {
        let bytes = try NineP.encodeReply(tag: NineP.noTag, message)
        #expect(bytes[4] == message.type.rawValue)
        let decoded = try NineP.decodeReply(bytes, msize: 65536)
        #expect(decoded.tag == NineP.noTag)
        #expect(decoded.message == message)
    }

    @Test("An Rread made in place is byte for byte the encoded Rread; counts above msize are refused")
    func readReplyInPlace() throws {
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 13) }
        var buffer = [UInt8](repeating: 0xEE, count: NineP.readReplyHeaderSize) + data
        try NineP.finishReadReply(tag: 0x0A0B, in: &buffer, maxSize: 4096)
        #expect(buffer == (try NineP.encodeReply(tag: 0x0A0B, .read(data: data), maxSize: 4096)))
        var empty = [UInt8](repeating: 0, count: NineP.readReplyHeaderSize)
        try NineP.finishReadReply(tag: 7, in: &empty)
        #expect(empty == (try NineP.encodeReply(tag: 7, .read(data: []))))
        var tooBig = [UInt8](repeating: 0, count: NineP.readReplyHeaderSize + 1000)
        #expect(throws: NinePWireError.self) { try NineP.finishReadReply(tag: 1, in: &tooBig, maxSize: 1010) }
        var noRoom = [UInt8](repeating: 0, count: 10)
        #expect(throws: NinePWireError.self) { try NineP.finishReadReply(tag: 1, in: &noRoom) }
    }

    @Test("Every .L T-message type and its R-message type is covered by the fixtures")
    func fixturesCoverEveryType() {
        let excluded: Set<NinePMessageType> = [.tlerror, .rlerror, .terror, .rerror, .topen, .ropen, .tcreate, .rcreate]
        let tTypes = Set(Fixtures.requests.map(\.type))
        let rTypes = Set(Fixtures.replies.map(\.type))
        for type in NinePMessageType.allCases where !excluded.contains(type) {
            if type.rawValue % 2 == 0 { #expect(tTypes.contains(type), "missing \(type)") }
            else { #expect(rTypes.contains(type), "missing \(type)") }
        }
        #expect(rTypes.contains(.rlerror))
    }

    @Test("Maximal I/O counts fit exactly in msize")
    func maximalCounts() throws {
        let msize: UInt32 = 8192
        let write = TMessage.write(fid: 1, offset: 0, data: Array(repeating: 7, count: Int(NineP.maxWriteCount(msize: msize))))
        let writeBytes = try NineP.encodeRequest(tag: 1, write, maxSize: msize)
        #expect(writeBytes.count == Int(msize))
        #expect(try NineP.decodeRequest(writeBytes, msize: msize).message == write)

        let read = RMessage.read(data: Array(repeating: 9, count: Int(NineP.maxIOCount(msize: msize))))
        let readBytes = try NineP.encodeReply(tag: 1, read, maxSize: msize)
        #expect(readBytes.count == Int(msize))
        #expect(try NineP.decodeReply(readBytes, msize: msize).message == read)

        // Tread/Treaddir counts are carried as sent; clamping is the server's job.
        let huge = try NineP.encodeRequest(tag: 1, .read(fid: 1, offset: 0, count: .max))
        #expect(try NineP.decodeRequest(huge, msize: msize).message == .read(fid: 1, offset: 0, count: .max))
        #expect(NineP.maxIOCount(msize: msize) == 8181)
        #expect(NineP.maxWriteCount(msize: msize) == 8169)
        #expect(NineP.maxIOCount(msize: 5) == 0)
        #expect(NineP.maxWriteCount(msize: 20) == 0)
    }

    @Test("Directory entries pack up to the limit and unpack again")
    func directoryEntries() throws {
        let entries = (0..<50).map {
            DirectoryEntry(qid: Qid(type: 0, version: UInt32($0), path: UInt64($0)), offset: UInt64($0 + 1),
                           type: 8, name: "file-\($0)-\(Fixtures.unicode)")
        }
        let size = entries[0].wireSize
        #expect(size == 24 + entries[0].name.utf8.count)
        let limit = size * 3 + size / 2
        let (data, packed) = try DirectoryEntry.pack(entries, limit: limit)
        #expect(packed == 3)
        #expect(data.count == entries[0..<3].reduce(0) { $0 + $1.wireSize })
        #expect(try DirectoryEntry.unpack(data) == Array(entries[0..<3]))

        let all = try DirectoryEntry.pack(entries, limit: 1 << 20)
        #expect(all.packed == 50)
        #expect(try DirectoryEntry.unpack(all.data) == entries)

        let none = try DirectoryEntry.pack(entries, limit: size - 1)
        #expect(none.packed == 0 && none.data.isEmpty)

        // Packing stops at the first entry that does not fit, even if a later one would.
        let mixed = [DirectoryEntry(qid: Fixtures.qidA, offset: 1, type: 4, name: String(repeating: "x", count: 200)),
                     DirectoryEntry(qid: Fixtures.qidA, offset: 2, type: 4, name: "y")]
        #expect(try DirectoryEntry.pack(mixed, limit: 100).packed == 0)

        do {
            _ = try DirectoryEntry.unpack(Array(all.data.dropLast()))
            Issue.record("truncated entry decoded")
        } catch {
            #expect(error == .truncated(needed: entries[49].name.utf8.count, available: entries[49].name.utf8.count - 1))
        }
    }
}
