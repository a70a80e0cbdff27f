import EmuCore
import EmuVirtio
import EmuVirtioTesting
import Testing
@_spi(Testing) import VhostUser

/// Seed 002: SET_VRING_ENABLE goes over the socket to the back end's control plane, the guest's
/// first request by eventfd to its data plane. The back end here has a slow control plane (it
/// takes 400 ms to act on SET_VRING_ENABLE) and a data plane on another thread that drops a kick
/// on a ring still disabled, as the Rust vhost-user-backend did. The guest sends its request
/// the moment its DRIVER_OK write returns.
@Suite("seed 002: ring enable is acknowledged before DRIVER_OK completes")
struct RingEnableBarrierTests {
    static let slow = Duration.milliseconds(400)

    /// Initialises the device and sends one request right after DRIVER_OK; returns how many
    /// completions arrived within `wait`, the back end's dropped kicks, and how long DRIVER_OK took.
    func firstRequestAfterDriverOK(replyAck: Bool, barrier: Bool, wait: Duration) async throws -> (completed: Int, dropped: Int, driverOK: Duration) {
        let rig = try VhostRig(handler: EchoHandler(), options: .init(replyAck: replyAck, enableDelay: Self.slow))
        #expect(rig.device.negotiation.protocolFeatures.contains(.replyAck) == replyAck)
        rig.device.ringEnableBarrier = barrier
        let start = ContinuousClock.now
        try rig.initialize()
        let driverOK = ContinuousClock.now - start
        _ = try rig.driver.queues[0].submit(DriverRequest(readable: [[0xAB]], writableLengths: [4]))
        rig.driver.kick(0)
        let done = try await rig.driver.queues[0].waitForCompletions(1, timeout: wait)
        if let first = done.first { #expect(first.written == [0xAB, 0xAB, 0xAB, 0xAB]) }
        return (done.count, rig.backEnd.droppedKicks, driverOK)
    }

    @Test(arguments: [true, false])
    func theFirstRequestAfterDriverOKIsProcessed(replyAck: Bool) async throws {
        let r = try await firstRequestAfterDriverOK(replyAck: replyAck, barrier: true, wait: .seconds(3))
        #expect(r.completed == 1, "the first request was lost")
        #expect(r.dropped == 0)
        #expect(r.driverOK >= Self.slow, "DRIVER_OK returned before the back end acted on SET_VRING_ENABLE")
    }

    /// The check above can fail: without the barrier the same back end drops the request.
    @Test(arguments: [true, false])
    func withoutTheBarrierTheRequestIsDropped(replyAck: Bool) async throws {
        let r = try await firstRequestAfterDriverOK(replyAck: replyAck, barrier: false, wait: Self.slow * 2)
        #expect(r.completed == 0)
        #expect(r.dropped == 1)
    }
}
