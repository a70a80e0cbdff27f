import EmuCore
import EmuVirtio
import EmuVirtioTesting
import Synchronization
import Testing
@_spi(Testing) import VhostUser

/// The same device behind virtio-pci: requests by the notify structure, completions by INTx.
@Suite("vhost-user device on virtio-pci")
struct VhostUserPCITests {
    final class Levels: Sendable { let seen = Mutex<[Bool]>([]) }

    @Test func requestsAndInterruptsGoThroughThePCITransport() async throws {
        let memory = try FlatGuestMemory(size: 4 << 20)
        let (front, back) = try socketPair()
        let backEnd = try VhostUserBackEnd(socket: back, handler: EchoHandler(), options: .init(replyAck: false))
        defer { backEnd.stop() }
        let io = try IOThread(name: "vhost-pci")
        defer { io.stop() }
        let device = try VhostUserDevice(frontEnd: VhostUserFrontEnd(connection: VhostUserConnection(socket: front, timeout: .seconds(3))),
                                         deviceType: VirtioDeviceType(rawValue: 4), configSize: 16,
                                         regions: VhostUserGuestRegion.regions(of: memory), queueCount: 1, queueSize: 64, loop: io.loop)
        let levels = Levels()
        let transport = try VirtioPCITransport(device: device, memory: memory,
                                               interrupt: IRQLine(name: "intx") { l in levels.seen.withLock { $0.append(l) } },
                                               deliverMSI: { _, _ in })
        let driver = VirtioPCIDriver(configuration: transport.configuration, bars: [0: transport.bar])
        try driver.initialize(features: [.eventIndex], queueSizes: [16], memory: memory, ringArea: 0x10000..<0x200000)
        _ = try driver.queues[0].submit(DriverRequest(readable: [[5, 6]], writableLengths: [4]))
        driver.kick(0)
        #expect(try await driver.queues[0].waitForCompletions(1).first?.written == [5, 6, 5, 6])
        let deadline = ContinuousClock.now + .seconds(3)
        while !levels.seen.withLock({ $0.contains(true) }), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(2))
        }
        #expect(levels.seen.withLock { $0.contains(true) }, "the call fd did not raise INTx")
        #expect(backEnd.processedRequests == 1)
    }
}
