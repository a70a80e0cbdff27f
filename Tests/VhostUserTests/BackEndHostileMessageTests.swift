import EmuCore
import Testing
@testable import VhostUser

/// Our back end against a front end that sends nonsense: every bad message is refused with a
/// non-zero REPLY_ACK status, and the back end goes on serving.
@Suite("vhost-user back end against hostile messages")
struct BackEndHostileMessageTests {
    func status(_ peer: VhostUserSocket, _ request: VhostUserRequest, _ payload: [UInt8], fds: [Int32] = []) throws -> UInt64 {
        try peer.send(VhostUserMessage(request, flags: .needReply, payload: payload), descriptors: fds)
        let (reply, got) = try peer.receive(timeout: .seconds(2))
        #expect(got.isEmpty)
        #expect(reply.request == request.rawValue && reply.flags == [.version1, .reply])
        return try VhostUserU64.decode(reply.payload)
    }

    @Test func badMessagesAreRefusedAndServiceGoesOn() throws {
        let (peer, back) = try socketPair()
        let backEnd = try VhostUserBackEnd(socket: back, handler: EchoHandler())
        defer { backEnd.stop() }
        #expect(try status(peer, .setVringNum, [1, 2, 3]) == 1)                                              // short payload
        #expect(try status(peer, .setVringNum, VhostUserVringState(index: 7, number: 64).encoded()) == 1)   // no ring 7
        #expect(try status(peer, .setVringNum, VhostUserVringState(index: 0, number: 0).encoded()) == 1)    // size 0
        #expect(try status(peer, .setVringNum, VhostUserVringState(index: 0, number: 1 << 20).encoded()) == 1)
        var table = VhostUserMemoryTable(regions: [VhostUserMemoryRegionDescriptor(guestAddress: 0, size: 4096, userAddress: 0, mmapOffset: 0)]).encoded()
        #expect(try status(peer, .setMemTable, table) == 1)                                                  // no fd
        let block = try RAMBlock(name: "r", size: 4096)
        table = VhostUserMemoryTable(regions: [VhostUserMemoryRegionDescriptor(guestAddress: 0, size: 1 << 30, userAddress: 0, mmapOffset: 0)]).encoded()
        #expect(try status(peer, .setMemTable, table, fds: [block.fd]) == 1)                                // past the fd's end
        #expect(try status(peer, .setVringKick, VhostUserU64.encode(0)) == 1)                                // kick before memory, no fd
        #expect(try status(peer, .setProtocolFeatures, VhostUserU64.encode(1 << 19)) == 1)                   // not offered
        // Still serving: a well-formed request is answered.
        try peer.send(VhostUserMessage(.getQueueNum))
        let (reply, _) = try peer.receive(timeout: .seconds(2))
        #expect(try VhostUserU64.decode(reply.payload) == 1)
        #expect(backEnd.hasEnded == false)
    }

    /// A request whose reply carries a value cannot be answered with a status: the back end
    /// ends the connection rather than leave the front end waiting or out of step.
    @Test func anUnsupportedRequestThatNeedsAValueEndsTheConnection() throws {
        let (peer, back) = try socketPair()
        let backEnd = try VhostUserBackEnd(socket: back, handler: EchoHandler())
        defer { backEnd.stop() }
        try peer.send(VhostUserMessage(.getStatus))
        #expect(throws: VhostUserError.disconnected) { _ = try peer.receive(timeout: .seconds(2)) }
    }

    @Test func anUnknownRequestCodeEndsTheConnection() throws {
        let (peer, back) = try socketPair()
        let backEnd = try VhostUserBackEnd(socket: back, handler: EchoHandler())
        defer { backEnd.stop() }
        try peer.send(VhostUserMessage(rawRequest: 77, flags: .version1, payload: []))
        #expect(throws: VhostUserError.disconnected) { _ = try peer.receive(timeout: .seconds(2)) }
        #expect(backEnd.hasEnded)
    }
}
