import EmuCore
import Testing
@testable import VhostUser
#if canImport(Glibc)
import Glibc
#endif

/// The socket and the reply checks, against a scripted peer: the peer's reply is written before
/// the front end asks, so every test is deterministic and single-threaded.
@Suite("vhost-user connection")
struct VhostUserConnectionTests {
    func reply(_ request: UInt32, flags: UInt32 = 0x5, payload: [UInt8]) -> VhostUserMessage {
        VhostUserMessage(rawRequest: request, flags: VhostUserMessage.Flags(rawValue: flags), payload: payload)
    }

    @Test func descriptorsTravelWithTheMessage() throws {
        let (a, b) = try socketPair()
        let notifier = try EventNotifier()
        try a.send(VhostUserMessage(.setVringCall, payload: VhostUserU64.encode(0)), descriptors: [notifier.fd])
        let (message, fds) = try b.receive(timeout: .seconds(1))
        #expect(message.knownRequest == .setVringCall)
        try #require(fds.count == 1)
        defer { close(fds[0]) }
        #expect(fds[0] != notifier.fd)
        var one: UInt64 = 1
        #expect(write(fds[0], &one, 8) == 8)  // the peer's copy signals our notifier
        #expect(notifier.testAndClear())
    }

    @Test func aGoodReplyIsReturned() throws {
        let (front, peer) = try socketPair()
        let connection = VhostUserConnection(socket: front, timeout: .seconds(1))
        try peer.send(reply(1, payload: VhostUserU64.encode(0x1_4000_0000)))
        #expect(try VhostUserFrontEnd(connection: connection).getFeatures() == 0x1_4000_0000)
        let (sent, _) = try peer.receive(timeout: .seconds(1))
        #expect(sent.knownRequest == .getFeatures && sent.flags == .version1 && sent.payload.isEmpty)
    }

    @Test(arguments: [
        (UInt32(2), UInt32(0x5), 8, "wrong request"),
        (UInt32(99), UInt32(0x5), 8, "unknown request"),
        (UInt32(1), UInt32(0x1), 8, "no reply bit"),
        (UInt32(1), UInt32(0x6), 8, "version 2"),
        (UInt32(1), UInt32(0xD), 8, "need-reply in a reply"),
        (UInt32(1), UInt32(0x5), 4, "short payload"),
        (UInt32(1), UInt32(0x5), 16, "long payload"),
    ])
    func hostileRepliesAreClearErrorsAndBreakTheConnection(code: UInt32, flags: UInt32, size: Int, what: String) throws {
        let (front, peer) = try socketPair()
        let connection = VhostUserConnection(socket: front, timeout: .seconds(1))
        try peer.send(reply(code, flags: flags, payload: [UInt8](repeating: 0, count: size)))
        let error = #expect(throws: VhostUserError.self, "\(what)") { _ = try VhostUserFrontEnd(connection: connection).getFeatures() }
        switch error {
        case .unexpectedReply(expected: .getFeatures, got: code)?: #expect(code != 1)
        case .badReplyFlags(.getFeatures, flags: flags)?: #expect(flags != 0x5)
        case .badReplySize(.getFeatures, expected: 8, got: UInt32(size))?: #expect(size != 8)
        default: Issue.record("\(what): \(String(describing: error))")
        }
        #expect(connection.brokenBy != nil)
        // Later exchanges fail at once instead of reading a stream out of step.
        #expect(throws: VhostUserError.self) { _ = try VhostUserFrontEnd(connection: connection).getFeatures() }
    }

    @Test func aSilentBackEndTimesOut() throws {
        let (front, peer) = try socketPair()
        _ = peer
        let connection = VhostUserConnection(socket: front, timeout: .milliseconds(200))
        let start = ContinuousClock.now
        #expect(throws: VhostUserError.timedOut(.getVringBase)) {
            _ = try VhostUserFrontEnd(connection: connection).getVringBase(0)
        }
        let took = ContinuousClock.now - start
        #expect(took >= .milliseconds(190) && took < .seconds(3))
    }

    @Test func aHalfSentReplyTimesOut() throws {
        let (front, peer) = try socketPair()
        let connection = VhostUserConnection(socket: front, timeout: .milliseconds(200))
        let bytes = reply(1, payload: VhostUserU64.encode(1)).encoded()
        _ = bytes.withUnsafeBytes { send(peer.fd, $0.baseAddress, 14, 0) }  // header and 2 of 8 bytes
        #expect(throws: VhostUserError.timedOut(.getFeatures)) { _ = try VhostUserFrontEnd(connection: connection).getFeatures() }
    }

    @Test func aClosedBackEndIsADisconnect() throws {
        let (front, peer) = try socketPair()
        let connection = VhostUserConnection(socket: front, timeout: .seconds(1))
        peer.close()
        #expect(throws: VhostUserError.disconnected) { _ = try VhostUserFrontEnd(connection: connection).getFeatures() }
    }

    @Test func aRefusedAcknowledgementIsReportedWithoutBreaking() throws {
        let (front, peer) = try socketPair()
        let connection = VhostUserConnection(socket: front, timeout: .seconds(1))
        try peer.send(reply(8, payload: VhostUserU64.encode(22)))
        #expect(throws: VhostUserError.backEndRefused(.setVringNum, status: 22)) {
            try connection.send(.setVringNum, payload: VhostUserVringState(index: 0, number: 7).encoded(), needReply: true)
        }
        #expect(connection.brokenBy == nil)
        let (sent, _) = try peer.receive(timeout: .seconds(1))
        #expect(sent.flags == [.version1, .needReply])
    }

    @Test func aHostileHeaderSizeIsRefusedBeforeAllocating() throws {
        let (front, peer) = try socketPair()
        let connection = VhostUserConnection(socket: front, timeout: .seconds(1))
        var header: [UInt8] = [1, 0, 0, 0, 5, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x7F]
        _ = header.withUnsafeMutableBytes { send(peer.fd, $0.baseAddress, 12, 0) }
        #expect(throws: VhostUserError.payloadTooLarge(0x7FFF_FFFF)) { _ = try VhostUserFrontEnd(connection: connection).getFeatures() }
    }

    @Test func theListenerAcceptsAFrontEnd() throws {
        let path = "/tmp/emu-vhost-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let listener = try VhostUserListener(path: path)
        defer { listener.close() }
        let front = try VhostUserConnection(path: path, timeout: .seconds(1))
        let back = try listener.accept(timeout: .seconds(2))
        try back.send(reply(17, payload: VhostUserU64.encode(4)))
        #expect(try VhostUserU64.decode(front.call(.getQueueNum, reply: .exactly(8))) == 4)
        #expect(throws: VhostUserError.timedOut(.getFeatures)) { _ = try listener.accept(timeout: .milliseconds(50)) }
    }
}
