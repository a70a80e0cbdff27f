import Dispatch
import EmuCore
import EmuVirtio
import EmuVirtioTesting
import Synchronization
import Testing
@_spi(Testing) import VhostUser
#if canImport(Glibc)
import Glibc
#endif

/// A device of another type (virtio-fs's ID, two queues) reached by socket path, as a VMM would.
@Suite("generic vhost-user device by socket path")
struct GenericDeviceTests {
    final class Served: Sendable { let backEnd = Mutex<VhostUserBackEnd?>(nil) }

    @Test func aVirtioFSTypedDeviceConnectsByPathAndServesBothQueues() async throws {
        let path = "/tmp/emu-vhost-generic-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let listener = try VhostUserListener(path: path)
        defer { listener.close() }
        let served = Served()
        DispatchQueue.global().async {
            guard let socket = try? listener.accept(timeout: .seconds(5)) else { return }
            served.backEnd.withLock { $0 = try? VhostUserBackEnd(socket: socket, handler: EchoHandler(queueCount: 2)) }
        }
        defer { served.backEnd.withLock { $0?.stop() } }
        let memory = try FlatGuestMemory(size: 8 << 20)
        let io = try IOThread(name: "vhost-fs")
        defer { io.stop() }
        let device = try await offCooperativePool {
            try VhostUserDevice.connect(socketPath: path, deviceType: VirtioDeviceType(rawValue: 26), configSize: 16, queueCount: 2,
                                        regions: VhostUserGuestRegion.regions(of: memory), loop: io.loop, queueSize: 64)
        }
        #expect(device.deviceType.rawValue == 26)
        #expect(device.readConfig(offset: 8, size: 4) == 0x0B0A_0908)
        let transport = VirtioMMIOTransport(device: device, memory: memory, interrupt: IRQLine(unconnected: "irq"))
        #expect(transport.read(offset: VirtioMMIOTransport.Register.deviceID, size: 4) == 26)
        let driver = VirtioMMIODriver(device: transport)
        try driver.initialize(features: [], queueSizes: [64, 64], memory: memory, ringArea: 0x10000..<0x800000)
        _ = try driver.queues[1].submit(DriverRequest(readable: [[1, 2]], writableLengths: [4]))
        driver.kick(1)
        #expect(try await driver.queues[1].waitForCompletions(1).first?.written == [1, 2, 1, 2])
    }
}
