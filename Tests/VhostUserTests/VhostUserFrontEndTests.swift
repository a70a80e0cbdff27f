import EmuCore
import EmuVirtio
import EmuVirtioTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif
@_spi(Testing) @testable import VhostUser

/// Negotiation, memory table, rings and config between our front end and our back end.
@Suite("vhost-user front end against our back end")
struct VhostUserFrontEndTests {
    @Test func negotiationAgreesOnTheCommonProtocolFeatures() throws {
        let (front, back) = try socketPair()
        let backEnd = try VhostUserBackEnd(socket: back, handler: EchoHandler(queueCount: 2))
        defer { backEnd.stop() }
        let frontEnd = VhostUserFrontEnd(connection: VhostUserConnection(socket: front, timeout: .seconds(2)))
        let n = try frontEnd.negotiate()
        #expect(n.protocolFeaturesSupported)
        #expect(n.backEndFeatures & VhostUserProtocolFeatures.virtioBit != 0)
        #expect(VirtioFeatures(rawValue: n.backEndFeatures).contains([.version1, .eventIndex]))
        #expect(n.offeredProtocolFeatures == [.multiQueue, .replyAck, .config, .configureMemSlots, .inflightSharedMemory])
        #expect(n.protocolFeatures == [.multiQueue, .replyAck, .config, .configureMemSlots, .inflightSharedMemory])
        #expect(n.queueCount == 2)
        #expect(n.maxMemSlots == 8)
        #expect(backEnd.receivedRequests == [.setOwner, .getFeatures, .getProtocolFeatures, .setProtocolFeatures, .getQueueNum,
                                             .getMaxMemSlots])
        #expect(try frontEnd.getConfig(offset: 2, size: 4) == [2, 3, 4, 5])
        // The back end refuses a config range past its space; with REPLY_ACK that is a clean error.
        #expect(throws: VhostUserError.self) { try frontEnd.getConfig(offset: 14, size: 4) }
    }

    @Test func memoryRegionsAreAddedAndRemovedOneAtATime() throws {
        let (front, back) = try socketPair()
        let backEnd = try VhostUserBackEnd(socket: back, handler: EchoHandler())
        defer { backEnd.stop() }
        let frontEnd = VhostUserFrontEnd(connection: VhostUserConnection(socket: front, timeout: .seconds(2)))
        let low = VhostUserGuestRegion(guestAddress: 0, block: try RAMBlock(name: "low", size: 1 << 20))
        let high = VhostUserGuestRegion(guestAddress: 1 << 32, block: try RAMBlock(name: "high", size: 1 << 20))
        // Before negotiation the front end knows no CONFIGURE_MEM_SLOTS: refused locally.
        #expect(throws: VhostUserError.self) { try frontEnd.addMemoryRegion(high) }
        try frontEnd.negotiate()
        try frontEnd.setMemTable([low])
        try frontEnd.addMemoryRegion(high)       // acknowledged: the back end mapped it
        try frontEnd.removeMemoryRegion(high)
        // Removing it again: the back end has no such region, and says so through REPLY_ACK.
        #expect(throws: VhostUserError.backEndRefused(.remMemReg, status: 1)) { try frontEnd.removeMemoryRegion(high) }
        #expect(frontEnd.connection.brokenBy == nil)
        #expect(backEnd.receivedRequests.suffix(4) == [.setMemTable, .addMemReg, .remMemReg, .remMemReg])
    }

    @Test func theDeviceRunsRequestsThroughTheBackEnd() async throws {
        let rig = try VhostRig(handler: EchoHandler())
        #expect(rig.transport.core.readConfig(offset: 4, size: 4) == 0x0706_0504)  // from GET_CONFIG
        try rig.initialize()
        for round in 0..<3 {
            let token = try rig.driver.queues[0].submit(DriverRequest(readable: [[UInt8(round), 9]], writableLengths: [6]))
            rig.driver.kick(0)
            let done = try await rig.driver.queues[0].waitForCompletions(1)
            try #require(done.count == 1)
            #expect(done[0].token == token)
            #expect(done[0].written == [UInt8(round), 9, UInt8(round), 9, UInt8(round), 9])
        }
        // The back end's call fd raises the transport's interrupt (the driver polled the used ring,
        // so the interrupt may trail the completions a little).
        let deadline = ContinuousClock.now + .seconds(3)
        while rig.transport.core.interruptStatus & VirtioTransportCore.interruptUsedBuffer == 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(2))
        }
        #expect(rig.transport.core.interruptStatus & VirtioTransportCore.interruptUsedBuffer != 0)
        #expect(rig.backEnd.processedRequests == 3)
        rig.driver.reset()  // disables the ring and stops it with GET_VRING_BASE
        let requests = rig.backEnd.receivedRequests
        #expect(requests.suffix(3) == [.setVringEnable, .getVringBase, .getConfig])
        #expect(rig.device.brokenReason == nil)
        // And the device starts again after the reset.
        try rig.initialize()
        _ = try rig.driver.queues[0].submit(DriverRequest(readable: [[7]], writableLengths: [2]))
        rig.driver.kick(0)
        #expect(try await rig.driver.queues[0].waitForCompletions(1).first?.written == [7, 7])
    }

    /// A reset while the back end handles a request waits for it (GET_VRING_BASE), and nothing
    /// reaches the used ring after the reset returned.
    @Test func aResetWaitsForTheRequestInFlight() async throws {
        let (took, usedAfterReset, usedLater, processed) = try await offCooperativePool { () throws -> (Duration, UInt16, UInt16, Int) in
            let rig = try VhostRig(handler: SlowEchoHandler(delay: .milliseconds(300)), configSize: 0)
            try rig.initialize(features: [])
            let used = rig.driver.queues[0].configuration.deviceArea + 2
            _ = try rig.driver.queues[0].submit(DriverRequest(readable: [[1]], writableLengths: [1]))
            rig.driver.kick(0)
            usleep(80_000)  // the back end is inside the handler now
            let start = ContinuousClock.now
            rig.driver.reset()
            let took = ContinuousClock.now - start
            let usedAfterReset: UInt16 = try rig.memory.load(at: used)
            usleep(400_000)
            let usedLater: UInt16 = try rig.memory.load(at: used)
            return (took, usedAfterReset, usedLater, rig.backEnd.processedRequests)
        }
        #expect(took >= Duration.milliseconds(150), "the reset did not wait for the request in flight")
        #expect(usedAfterReset == 1)
        #expect(usedLater == usedAfterReset)
        #expect(processed == 1)
    }

    @Test func withoutProtocolFeaturesAGetFeaturesRoundTripEndsTheStart() async throws {
        let rig = try VhostRig(handler: EchoHandler(queueCount: 1), options: .init(protocolFeatures: false))
        #expect(!rig.device.negotiation.protocolFeaturesSupported)
        #expect(rig.device.negotiation.queueCount == 1)
        try rig.initialize()
        #expect(rig.backEnd.receivedRequests.suffix(3) == [.setVringKick, .setVringCall, .getFeatures])
        #expect(!rig.backEnd.receivedRequests.contains(.setVringEnable))
        _ = try rig.driver.queues[0].submit(DriverRequest(readable: [[42]], writableLengths: [1]))
        rig.driver.kick(0)
        #expect(try await rig.driver.queues[0].waitForCompletions(1).first?.written == [42])
    }

    @Test func everyQueueOfAMultiQueueDeviceReachesItsRing() async throws {
        let rig = try VhostRig(handler: EchoHandler(queueCount: 3))
        #expect(rig.device.queueMaxSizes.count == 3)
        try rig.initialize(queues: 3)
        for q in [2, 0, 1] {
            _ = try rig.driver.queues[q].submit(DriverRequest(readable: [[UInt8(q + 10)]], writableLengths: [2]))
            rig.driver.kick(q)
            #expect(try await rig.driver.queues[q].waitForCompletions(1).first?.written == [UInt8(q + 10), UInt8(q + 10)])
        }
        #expect(rig.backEnd.processedRequests == 3)
        #expect(rig.backEnd.receivedRequests.filter { $0 == .setVringEnable }.count == 3)
    }

    @Test func ringSetUpSendsTheAreasAsFrontEndAddresses() throws {
        let rig = try VhostRig(handler: EchoHandler())
        try rig.initialize()
        let sent = rig.backEnd.receivedRequests
        let start = try #require(sent.firstIndex(of: .setFeatures))
        // The in-flight region is asked for and handed back before any ring is set up.
        #expect(Array(sent[start...]) == [.setFeatures, .getInflightFD, .setInflightFD, .setVringNum, .setVringBase,
                                          .setVringAddr, .setVringKick, .setVringCall, .setVringEnable])
        #expect(sent.contains(.setMemTable))
    }

    @Test func aBlockDeviceReadsAndWritesARAMDisk() async throws {
        let disk = RAMDiskHandler(sectors: 64)
        let rig = try VhostRig(handler: disk, deviceType: .block, configSize: VhostUserBlockDevice.configSize)
        #expect(VhostUserBlockDevice.capacity(of: rig.device) == 64)
        #expect(rig.transport.read(offset: VirtioMMIOTransport.Register.deviceID, size: 4) == 2)
        try rig.initialize()
        func header(_ type: UInt32, _ sector: UInt64) -> [UInt8] {
            var b: [UInt8] = []
            withUnsafeBytes(of: type.littleEndian) { b += $0 }
            b += [0, 0, 0, 0]
            withUnsafeBytes(of: sector.littleEndian) { b += $0 }
            return b
        }
        let data = (0..<1024).map { UInt8(truncatingIfNeeded: $0 * 7) }
        _ = try rig.driver.queues[0].submit(DriverRequest(readable: [header(1, 3), data], writableLengths: [1]))
        rig.driver.kick(0)
        #expect(try await rig.driver.queues[0].waitForCompletions(1).first?.written == [0])
        #expect(disk.disk.withLock { Array($0[1536..<2560]) } == data)
        _ = try rig.driver.queues[0].submit(DriverRequest(readable: [header(0, 3)], writableLengths: [1024, 1]))
        rig.driver.kick(0)
        let read = try #require(try await rig.driver.queues[0].waitForCompletions(1).first)
        #expect(read.written == data + [0])
        // Past the end: the back end's error status reaches the guest.
        _ = try rig.driver.queues[0].submit(DriverRequest(readable: [header(0, 64)], writableLengths: [512, 1]))
        rig.driver.kick(0)
        #expect(try await rig.driver.queues[0].waitForCompletions(1).first?.written.last == 1)
    }

    @Test func aBackEndThatDisconnectsBreaksTheDeviceWithoutHanging() async throws {
        let rig = try VhostRig(handler: EchoHandler(), timeout: .seconds(1))
        try rig.initialize()
        rig.backEnd.stop()
        // The hang-up is seen on the loop: the device asks the driver for a reset.
        let deadline = ContinuousClock.now + .seconds(3)
        while !rig.transport.core.status.contains(.deviceNeedsReset), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(rig.transport.core.status.contains(.deviceNeedsReset))
        #expect(rig.device.brokenReason != nil)
        // Reset and start again: nothing waits on the dead back end, the device stays broken.
        let start = ContinuousClock.now
        rig.driver.reset()
        #expect(throws: VirtioDriverFailure.self) { try rig.initialize() }
        #expect(ContinuousClock.now - start < .seconds(2))
    }
}
