import EmuCore
import EmuVirtio
import EmuVirtioTesting
import Synchronization
import Testing
@_spi(Testing) @testable import VhostUser
#if canImport(Glibc)
import Glibc
#endif

/// An echo whose first request blocks until released: a request the back end took and has not
/// finished when its process dies.
final class GateHandler: VhostUserBackEndHandler {
    let features: VirtioFeatures = [.version1, .eventIndex, .indirectDescriptors]
    let queueCount = 1
    let config: [UInt8] = Array(0..<16)
    let calls = Atomic<Int>(0)
    private let opened = Atomic<Bool>(false)

    func release() { opened.store(true, ordering: .releasing) }

    func handle(_ element: VirtqueueElement, queue: Int, memory: FlatGuestMemory) -> UInt32 {
        if calls.add(1, ordering: .acquiringAndReleasing).oldValue == 0 {
            // Long: the gate must outlast every wait of the tests (the tests open it when done).
            let deadline = ContinuousClock.now + .seconds(60)
            while !opened.load(ordering: .acquiring), ContinuousClock.now < deadline { usleep(1000) }
        }
        return EchoHandler().handle(element, queue: queue, memory: memory)
    }
}

/// In-flight tracking (`INFLIGHT_SHMFD`): the messages, the region's layout and checks, and a
/// back end that dies with a request in hand.
@Suite("vhost-user in-flight tracking")
struct InflightTests {
    /// Polls `condition` for up to 30 s (long: it only matters when something is wrong, and a
    /// loaded machine must not turn a slow reconnect into a failure).
    func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while !condition(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
    }

    // MARK: Codec

    @Test func theInflightDescriptionRoundTripsIn24Bytes() throws {
        let d = VhostUserInflightDescription(mmapSize: 0x1_0000_2000, mmapOffset: 0x3000, queueCount: 3, queueSize: 256)
        let bytes = d.encoded()
        #expect(bytes.count == 24)
        #expect(Array(bytes[16..<20]) == [3, 0, 0, 1])
        #expect(try VhostUserInflightDescription(decoding: bytes) == d)
        #expect(throws: VhostUserError.self) { try VhostUserInflightDescription(decoding: Array(bytes[0..<20])) }
        #expect(throws: VhostUserError.self) { try VhostUserInflightDescription(decoding: bytes + [0]) }
        #expect(VhostUserRequest.getInflightFD.rawValue == 31 && VhostUserRequest.setInflightFD.rawValue == 32)
        #expect(VhostUserProtocolFeatures.inflightSharedMemory.rawValue == 1 << 12)
    }

    // MARK: Front end against our back end

    @Test func getInflightFDReturnsARegionWithTheSpecLayout() throws {
        let (front, back) = try socketPair()
        let backEnd = try VhostUserBackEnd(socket: back, handler: EchoHandler())
        defer { backEnd.stop() }
        let frontEnd = VhostUserFrontEnd(connection: VhostUserConnection(socket: front, timeout: .seconds(3)))
        let n = try frontEnd.negotiate()
        #expect(n.protocolFeatures.contains(.inflightSharedMemory))
        let (d, fd) = try frontEnd.getInflightFD(queueCount: 1, queueSize: 64)
        let share = VhostUserInflightShare(description: d, fd: fd)
        // One queue: 16-byte header + 64 × 16-byte states, rounded to a page.
        #expect(d.mmapSize == 4096 && d.mmapOffset == 0 && d.queueCount == 1 && d.queueSize == 64)
        let view = try RAMBlock(name: "view", mapping: dup(share.fd), offset: 0, size: d.mmapSize)
        let version = view.hostBase.loadUnaligned(fromByteOffset: 8, as: UInt16.self)
        let count = view.hostBase.loadUnaligned(fromByteOffset: 10, as: UInt16.self)
        #expect(version == 1 && count == 64)
        try frontEnd.setInflightFD(d, fd: share.fd)
        #expect(backEnd.receivedRequests.suffix(2) == [.getInflightFD, .setInflightFD])
    }

    @Test func aBackEndWithoutTheFeatureIsNotAskedForARegion() throws {
        let rig = try VhostRig(handler: EchoHandler(), options: .init(inflight: false), reconnects: true)
        try rig.initialize()
        #expect(rig.device.inflightShare == nil)
        #expect(!rig.backEnd.receivedRequests.contains(.getInflightFD))
    }

    // MARK: Reconnect with a request outstanding

    /// Starts a rig, has the first request taken by the back end, then kills that back end.
    func crashWithARequestInHand(tracking: Bool) async throws -> (VhostRig, GateHandler) {
        let gate = GateHandler()
        let rig = try VhostRig(handler: gate, reconnects: true)
        rig.device.inflightTracking = tracking
        try rig.initialize()
        #expect(rig.device.brokenReason == nil, "started: \(rig.device.brokenReason ?? "") \(rig.backEnd.refusals)")
        #expect((rig.device.inflightShare != nil) == tracking)
        _ = try rig.driver.queues[0].submit(DriverRequest(readable: [[7]], writableLengths: [3]))
        rig.driver.kick(0)
        try await waitUntil { gate.calls.load(ordering: .acquiring) == 1 }
        #expect(gate.calls.load(ordering: .acquiring) == 1, """
            the back end took no request: dropped kicks \(rig.backEnd.droppedKicks), processed \(rig.backEnd.processedRequests), \
            refusals \(rig.backEnd.refusals), requests \(rig.backEnd.receivedRequests), device \(rig.device.brokenReason ?? "working")
            """)
        rig.backEnd.simulateCrash()
        return (rig, gate)
    }

    @Test func aRequestOutstandingWhenTheBackEndDiesCompletesAfterReconnectWithoutAReset() async throws {
        let (rig, gate) = try await crashWithARequestInHand(tracking: true)
        defer { gate.release() }
        try await waitUntil { rig.device.reconnectCount == 1 }
        #expect(rig.device.reconnectCount == 1)
        let done = try await rig.driver.queues[0].waitForCompletions(1)
        #expect(done.map(\.written) == [[7, 7, 7]])
        #expect(rig.device.brokenReason == nil)
        #expect(!rig.transport.core.status.contains(.deviceNeedsReset))
        let second = try #require(rig.laterBackEnds.withLock { $0.first })
        #expect(second.resubmittedRequests == 1, """
            resubmitted \(second.resubmittedRequests); the dead back end processed \(rig.backEnd.processedRequests); \
            new back end's refusals \(second.refusals), requests \(second.receivedRequests)
            """)
        #expect(second.processedRequests == 1)
        #expect(second.receivedRequests.contains(.setInflightFD))
        #expect(!second.receivedRequests.contains(.getInflightFD))  // the kept region, not a new one
        // The dead back end finishes nothing, even when its handler returns.
        gate.release()
        // The ring goes on past the resubmitted request.
        _ = try rig.driver.queues[0].submit(DriverRequest(readable: [[8]], writableLengths: [2]))
        rig.driver.kick(0)
        let next = try await rig.driver.queues[0].waitForCompletions(1)
        #expect(next.map(\.written) == [[8, 8]])
        #expect(rig.backEnd.processedRequests == 0)
        #expect(second.processedRequests == 2)
        withExtendedLifetime(rig) {}
    }

    /// The same crash without tracking: the request is lost to the new back end, so the device
    /// can only ask for a reset. This is what the test above would see if tracking broke.
    @Test func withoutInflightTrackingTheSameCrashNeedsAReset() async throws {
        let (rig, gate) = try await crashWithARequestInHand(tracking: false)
        defer { gate.release() }
        try await waitUntil { rig.transport.core.status.contains(.deviceNeedsReset) }
        #expect(rig.transport.core.status.contains(.deviceNeedsReset))
        #expect(rig.device.brokenReason?.contains("outstanding") == true)
        let done = try await rig.driver.queues[0].waitForCompletions(1, timeout: .milliseconds(200))
        #expect(done.isEmpty)
        gate.release()
        withExtendedLifetime(rig) {}
    }

    @Test func aHostileRegionHandedToTheNewBackEndBreaksTheDeviceNotTheProcess() async throws {
        let gate = GateHandler()
        defer { gate.release() }
        let rig = try VhostRig(handler: gate, reconnects: true)
        try rig.initialize()
        let share = try #require(rig.device.inflightShare)
        _ = try rig.driver.queues[0].submit(DriverRequest(readable: [[7]], writableLengths: [3]))
        rig.driver.kick(0)
        try await waitUntil { gate.calls.load(ordering: .acquiring) == 1 }
        // Someone scribbles on the region while the back end is away: a flag that is not 0 or 1.
        let view = try RAMBlock(name: "view", mapping: dup(share.fd), offset: 0, size: share.description.mmapSize)
        view.hostBase.storeBytes(of: UInt8(7), toByteOffset: 16 + 16 * 5, as: UInt8.self)
        rig.backEnd.simulateCrash()
        try await waitUntil { rig.transport.core.status.contains(.deviceNeedsReset) }
        #expect(rig.transport.core.status.contains(.deviceNeedsReset))
        #expect(rig.device.brokenReason != nil)
        #expect(rig.laterBackEnds.withLock { $0.allSatisfy { $0.processedRequests == 0 } })
        gate.release()
        withExtendedLifetime(rig) {}
    }

    // MARK: The region's checks

    @Test func recoveryReturnsInflightHeadsInTakenOrderAndFinishesAHalfDonePush() throws {
        let region = try VhostUserInflightRegion(creatingFor: 1, queueSize: 32, limit: 1)
        region.begin(queue: 0, head: 9, counter: 5)
        region.begin(queue: 0, head: 2, counter: 3)
        region.begin(queue: 0, head: 4, counter: 4)
        // Head 4's push reached the used ring (index 1) but the clear did not happen.
        region.pushing(queue: 0, head: 4)
        let (heads, next) = try region.recover(queue: 0, ringSize: 32, ringUsedIndex: 1)
        #expect(heads == [2, 9])
        #expect(next == 6)
        // Recovery recorded the used index: a second look agrees.
        #expect(try region.recover(queue: 0, ringSize: 32, ringUsedIndex: 1).heads == [2, 9])
        region.pushing(queue: 0, head: 2)
        region.finished(queue: 0, head: 2, usedIndex: 2)
        #expect(try region.recover(queue: 0, ringSize: 32, ringUsedIndex: 2).heads == [9])
    }

    @Test func hostileRegionValuesAreRefused() throws {
        func fresh() throws -> VhostUserInflightRegion { try VhostUserInflightRegion(creatingFor: 1, queueSize: 32, limit: 1) }
        var r = try fresh()
        r.block.hostBase.storeBytes(of: UInt8(2), toByteOffset: 16 + 16 * 3, as: UInt8.self)
        #expect(throws: VhostUserError.self) { try r.recover(queue: 0, ringSize: 32, ringUsedIndex: 0) }    // flag 2
        r = try fresh()
        r.begin(queue: 0, head: 20, counter: 1)
        #expect(throws: VhostUserError.self) { try r.recover(queue: 0, ringSize: 16, ringUsedIndex: 0) }    // head past the ring
        #expect(throws: VhostUserError.self) { try r.recover(queue: 0, ringSize: 64, ringUsedIndex: 0) }    // ring bigger than region
        #expect(throws: VhostUserError.self) { try r.recover(queue: 1, ringSize: 16, ringUsedIndex: 0) }    // no such queue
        r = try fresh()
        r.block.hostBase.storeBytes(of: UInt16(5000).littleEndian, toByteOffset: 12, as: UInt16.self)
        #expect(throws: VhostUserError.self) { try r.recover(queue: 0, ringSize: 32, ringUsedIndex: 3) }    // last_batch_head
        // Made with hostile counts.
        #expect(throws: VhostUserError.self) { try VhostUserInflightRegion(creatingFor: 0, queueSize: 32, limit: 1) }
        #expect(throws: VhostUserError.self) { try VhostUserInflightRegion(creatingFor: 2, queueSize: 32, limit: 1) }
        #expect(throws: VhostUserError.self) { try VhostUserInflightRegion(creatingFor: 1, queueSize: 0, limit: 1) }
        #expect(throws: VhostUserError.self) { try VhostUserInflightRegion(creatingFor: 1, queueSize: 40000, limit: 1) }
    }

    @Test func setInflightFDRefusesBadDescriptionsAndRegions() throws {
        let (peer, back) = try socketPair()
        let backEnd = try VhostUserBackEnd(socket: back, handler: EchoHandler())
        defer { backEnd.stop() }
        func status(_ payload: [UInt8], fds: [Int32]) throws -> UInt64 {
            try peer.send(VhostUserMessage(.setInflightFD, flags: .needReply, payload: payload), descriptors: fds)
            let (reply, _) = try peer.receive(timeout: .seconds(2))
            return try VhostUserU64.decode(reply.payload)
        }
        let good = VhostUserInflightDescription(mmapSize: 4096, mmapOffset: 0, queueCount: 1, queueSize: 64)
        let memory = try RAMBlock(name: "r", size: 4096)
        // Not negotiated yet.
        #expect(try status(good.encoded(), fds: [memory.fd]) == 1)
        try peer.send(VhostUserMessage(.setProtocolFeatures, payload: VhostUserU64.encode(
            VhostUserProtocolFeatures([.replyAck, .inflightSharedMemory]).rawValue)))
        // A zeroed region has version 0: refused; with proper headers accepted.
        #expect(try status(good.encoded(), fds: [memory.fd]) == 1)
        memory.hostBase.storeBytes(of: UInt16(1).littleEndian, toByteOffset: 8, as: UInt16.self)
        memory.hostBase.storeBytes(of: UInt16(64).littleEndian, toByteOffset: 10, as: UInt16.self)
        #expect(try status(good.encoded(), fds: [memory.fd]) == 0)
        #expect(try status(good.encoded(), fds: []) == 1)                                                   // no fd
        #expect(try status(Array(good.encoded()[0..<20]), fds: [memory.fd]) == 1)                           // short
        var d = good; d.queueSize = 32
        #expect(try status(d.encoded(), fds: [memory.fd]) == 1)                                            // desc_num differs
        d = good; d.queueCount = 2; d.mmapSize = 8192
        #expect(try status(d.encoded(), fds: [memory.fd]) == 1)                                            // more queues than rings
        d = good; d.queueCount = 0
        #expect(try status(d.encoded(), fds: [memory.fd]) == 1)
        d = good; d.mmapSize = 1 << 30
        #expect(try status(d.encoded(), fds: [memory.fd]) == 1)                                            // size not the layout's
        d = good; d.queueSize = 1024; d.mmapSize = VhostUserInflightRegion.mmapSize(queues: 1, queueSize: 1024)
        #expect(try status(d.encoded(), fds: [memory.fd]) == 1)                                            // past the fd's end
        d = good; d.mmapOffset = UInt64.max - 100
        #expect(try status(d.encoded(), fds: [memory.fd]) == 1)                                            // offset overflows
        #expect(backEnd.hasEnded == false)
    }
}
