import EmuCore
import EmuVirtio
import EmuVirtioTesting
import Testing
@_spi(Testing) import VhostUser

/// A back end that goes away and a device that reaches it again.
@Suite("vhost-user reconnect")
struct ReconnectTests {
    func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(4)
        while !condition(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
    }

    func echo(_ rig: VhostRig, _ byte: UInt8) async throws -> [UInt8]? {
        _ = try rig.driver.queues[0].submit(DriverRequest(readable: [[byte]], writableLengths: [3]))
        rig.driver.kick(0)
        return try await rig.driver.queues[0].waitForCompletions(1, timeout: .seconds(3)).first?.written
    }

    @Test func anIdleRingIsRestoredOnTheNewBackEndWithoutAReset() async throws {
        let rig = try VhostRig(handler: EchoHandler(), reconnects: true)
        try rig.initialize()
        #expect(try await echo(rig, 1) == [1, 1, 1])
        #expect(try await echo(rig, 2) == [2, 2, 2])
        rig.backEnd.stop()
        try await waitUntil { rig.device.reconnectCount == 1 }
        #expect(rig.device.reconnectCount == 1)
        #expect(rig.device.brokenReason == nil)
        #expect(!rig.transport.core.status.contains(.deviceNeedsReset))
        // The third request goes to the new back end, which resumed the ring at index 2.
        #expect(try await echo(rig, 3) == [3, 3, 3])
        let second = try #require(rig.laterBackEnds.withLock { $0.first })
        #expect(second.processedRequests == 1)
        #expect(second.receivedRequests.contains(.setMemTable))
        #expect(second.receivedRequests.filter { $0 == .setVringEnable }.count == 1)
    }

    /// Without in-flight tracking (a back end that does not offer it) an outstanding request
    /// cannot be accounted for.
    @Test func anOutstandingRequestWithoutTrackingMakesTheDeviceAskForAResetThenItRecovers() async throws {
        let rig = try VhostRig(handler: EchoHandler(), options: .init(inflight: false), reconnects: true)
        try rig.initialize()
        // Made available but not kicked: the old back end never saw it; we cannot know that.
        _ = try rig.driver.queues[0].submit(DriverRequest(readable: [[9]], writableLengths: [1]))
        rig.backEnd.stop()
        try await waitUntil { rig.transport.core.status.contains(.deviceNeedsReset) }
        #expect(rig.transport.core.status.contains(.deviceNeedsReset))
        #expect(rig.device.brokenReason?.contains("outstanding") == true)
        // The driver resets the device: it reconnects, and the next start works.
        rig.driver.reset()
        try rig.initialize()
        #expect(rig.device.brokenReason == nil)
        #expect(try await echo(rig, 4) == [4, 4, 4])
    }

    /// A packed ring's position (indices and wrap counters) died with the old back end and the
    /// device does not guess it: it asks for a reset, says why, and works again after it.
    @Test func aPackedRingMakesTheDeviceAskForAResetOnReconnectThenItRecovers() async throws {
        var handler = EchoHandler()
        handler.features.insert(.ringPacked)
        let rig = try VhostRig(handler: handler, reconnects: true)
        try rig.initialize(features: [.ringPacked])
        #expect(try await echo(rig, 5) == [5, 5, 5])
        rig.backEnd.stop()
        try await waitUntil { rig.transport.core.status.contains(.deviceNeedsReset) }
        #expect(rig.transport.core.status.contains(.deviceNeedsReset))
        #expect(rig.device.brokenReason?.contains("packed") == true, "\(rig.device.brokenReason ?? "no reason")")
        rig.driver.reset()
        try rig.initialize(features: [.ringPacked])
        #expect(rig.device.brokenReason == nil)
        #expect(try await echo(rig, 6) == [6, 6, 6])
    }

    @Test func withoutAReconnectorTheDeviceStaysBrokenAfterAReset() async throws {
        let rig = try VhostRig(handler: EchoHandler())
        try rig.initialize()
        rig.backEnd.stop()
        try await waitUntil { rig.device.brokenReason != nil }
        rig.driver.reset()
        #expect(throws: VirtioDriverFailure.self) { try rig.initialize() }
        #expect(rig.device.reconnectCount == 0)
    }
}
