import EmuCore
import EmuVirtio
import EmuVirtioTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif
@_spi(Testing) import VhostUser

/// Seed 002: SET_VRING_ENABLE goes over the socket to the back end's control plane, the guest's
/// first request by eventfd to its data plane. The back end here has a slow control plane (it
/// takes 400 ms to act on SET_VRING_ENABLE) and a data plane on another thread that drops a kick
/// on a ring still disabled, as the Rust vhost-user-backend did. The guest sends its request
/// the moment its DRIVER_OK write returns.
@Suite("seed 002: ring enable is acknowledged before DRIVER_OK completes")
struct RingEnableBarrierTests {
    static let slow = Duration.milliseconds(400)

    struct Outcome: Sendable {
        var completed: Int
        var dropped: Int
        var driverOK: Duration
        var written: [UInt8]?
    }

    /// Initialises the device and sends one request right after DRIVER_OK; returns how many
    /// completions arrived within `wait`, the back end's dropped kicks, and how long DRIVER_OK
    /// took. Runs on a Dispatch thread: the DRIVER_OK write blocks (that is the point), and
    /// blocking must not happen on the cooperative pool other tests run on.
    func firstRequestAfterDriverOK(replyAck: Bool, barrier: Bool, wait: Duration) async throws -> Outcome {
        try await offCooperativePool {
            let rig = try VhostRig(handler: EchoHandler(), options: .init(replyAck: replyAck, enableDelay: Self.slow))
            #expect(rig.device.negotiation.protocolFeatures.contains(.replyAck) == replyAck)
            rig.device.ringEnableBarrier = barrier
            let start = ContinuousClock.now
            try rig.initialize()
            let driverOK = ContinuousClock.now - start
            _ = try rig.driver.queues[0].submit(DriverRequest(readable: [[0xAB]], writableLengths: [4]))
            rig.driver.kick(0)
            var done: [DriverCompletion] = []
            let deadline = ContinuousClock.now + wait
            while done.isEmpty, ContinuousClock.now < deadline {
                done += try rig.driver.queues[0].takeCompletions()
                usleep(2000)
            }
            return Outcome(completed: done.count, dropped: rig.backEnd.droppedKicks, driverOK: driverOK, written: done.first?.written)
        }
    }

    @Test(arguments: [true, false])
    func theFirstRequestAfterDriverOKIsProcessed(replyAck: Bool) async throws {
        let r = try await firstRequestAfterDriverOK(replyAck: replyAck, barrier: true, wait: .seconds(3))
        #expect(r.completed == 1, "the first request was lost")
        #expect(r.written == [0xAB, 0xAB, 0xAB, 0xAB])
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
