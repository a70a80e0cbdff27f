import EmuCore
import EmuVirtio
import EmuVirtioConsole
import EmuVirtioTesting
import Synchronization
import Testing

@Suite("virtio-console")
struct VirtioConsoleDeviceTests {
    final class Sink: Sendable {
        let bytes = Mutex<[UInt8]>([])
        var text: String { String(decoding: bytes.withLock { $0 }, as: UTF8.self) }
    }

    struct Machine {
        let memory: FlatGuestMemory
        let sink = Sink()
        let device: VirtioConsoleDevice
        let transport: VirtioMMIOTransport
        let driver: VirtioMMIODriver

        init() throws {
            memory = try FlatGuestMemory(size: 4 << 20)
            let sink = self.sink
            device = VirtioConsoleDevice(queueSize: 16) { bytes in sink.bytes.withLock { $0 += bytes } }
            transport = VirtioMMIOTransport(device: device, memory: memory, interrupt: IRQLine(unconnected: "irq"))
            driver = VirtioMMIODriver(device: transport)
            try driver.initialize(features: VirtioConsoleDevice.emergencyWrite, queueSizes: [16, 16], memory: memory,
                                  ringArea: 0x10000..<0x400000)
        }
    }

    @Test func guestOutputReachesTheHostInOrder() throws {
        let m = try Machine()
        for line in ["hello ", "from ", "the guest\n"] {
            _ = try m.driver.queues[1].submit(DriverRequest(readable: [Array(line.utf8)]))
        }
        m.driver.kick(1)
        #expect(m.sink.text == "hello from the guest\n")
        #expect(try m.driver.queues[1].takeCompletions().count == 3)
    }

    @Test func hostInputWaitsForReceiveBuffersAndIsSplitAcrossThem() throws {
        let m = try Machine()
        #expect(m.device.sendInput(Array("0123456789".utf8)) == 10)
        let rx = m.driver.queues[0]
        _ = try rx.submit(DriverRequest(writableLengths: [4]))
        _ = try rx.submit(DriverRequest(writableLengths: [4]))
        m.driver.kick(0)
        #expect(try rx.takeCompletions().map { String(decoding: $0.written, as: UTF8.self) } == ["0123", "4567"])
        _ = try rx.submit(DriverRequest(writableLengths: [64]))
        m.driver.kick(0)
        #expect(try rx.takeCompletions().map { String(decoding: $0.written, as: UTF8.self) } == ["89"])
        m.device.sendInput(Array("x".utf8))  // a buffer is already waiting? none: held back
        _ = try rx.submit(DriverRequest(writableLengths: [8]))
        m.driver.kick(0)
        #expect(try rx.takeCompletions().map(\.written) == [[UInt8(ascii: "x")]])
    }

    @Test func theBacklogIsBounded() throws {
        let m = try Machine()
        let big = [UInt8](repeating: 7, count: VirtioConsoleDevice.backlogLimit + 100)
        #expect(m.device.sendInput(big) == VirtioConsoleDevice.backlogLimit)
        #expect(m.device.sendInput([1]) == 0)
    }

    @Test func emergencyWriteGoesThroughConfigurationSpace() throws {
        let m = try Machine()
        m.transport.write(offset: VirtioMMIOTransport.Register.config + 8, size: 4, value: UInt64(UInt8(ascii: "!")))
        #expect(m.sink.text == "!")
    }
}
