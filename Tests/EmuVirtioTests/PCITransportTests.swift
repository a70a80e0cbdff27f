import EmuCore
import EmuVirtio
import EmuVirtioEntropy
import EmuVirtioTesting
import Synchronization
import Testing

/// virtio-pci (modern) with a virtio-rng behind it: configuration space, BAR sizing, the
/// capability walk a driver does, INTx and MSI-X.
@Suite("virtio-pci transport")
struct PCITransportTests {
    typealias Layout = VirtioPCITransport.Layout
    typealias Offset = PCIConfigurationSpace.Offset

    final class Recorder: Sendable {
        let messages = Mutex<[(UInt64, UInt32)]>([])
        let levels = Mutex<[Bool]>([])
        var level: Bool { levels.withLock { $0.last ?? false } }
        var sent: [(UInt64, UInt32)] { messages.withLock { $0 } }
    }

    struct Machine {
        let memory: FlatGuestMemory
        let recorder = Recorder()
        let transport: VirtioPCITransport
        let driver: VirtioPCIDriver

        init() throws {
            memory = try FlatGuestMemory(size: 4 << 20)
            let r = recorder
            transport = try VirtioPCITransport(
                device: VirtioEntropyDevice(queueSize: 64), memory: memory,
                interrupt: IRQLine(name: "intx") { level in r.levels.withLock { $0.append(level) } },
                deliverMSI: { address, data in r.messages.withLock { $0.append((address, data)) } })
            driver = VirtioPCIDriver(configuration: transport.configuration, bars: [0: transport.bar])
        }

        func start(_ features: VirtioFeatures = []) throws {
            try driver.initialize(features: features, queueSizes: [16], memory: memory, ringArea: 0x10000..<0x200000)
        }

        func request() throws {
            _ = try driver.queues[0].submit(DriverRequest(writableLengths: [32]))
            driver.kick(0)
            #expect(try driver.queues[0].takeCompletions().map(\.writtenLength) == [32])
        }
    }

    @Test func configurationSpaceIdentifiesAModernVirtioFunction() throws {
        let m = try Machine()
        let c = m.transport.configuration
        #expect(c.read(offset: Offset.vendorID, size: 2) == 0x1AF4)
        #expect(c.read(offset: Offset.deviceID, size: 2) == 0x1044)  // 0x1040 + virtio-rng (4)
        #expect(c.read(offset: Offset.revision, size: 1) == 1)
        #expect(c.read(offset: Offset.status, size: 2) & UInt32(PCIConfigurationSpace.Status.capabilitiesList) != 0)
        #expect(c.read(offset: Offset.interruptPin, size: 1) == 1)
        try m.driver.checkIdentity()  // common, notify, ISR and device capabilities all found
        #expect(m.driver.msixCapability != nil)
        #expect(c.read(offset: 0x100, size: 4) == 0)  // beyond the space
    }

    @Test func barZeroSizesAndMapsLikeAnyPCIBar() throws {
        let m = try Machine()
        let c = m.transport.configuration
        #expect(c.read(offset: Offset.bar0, size: 4) == 0x4)  // 64-bit memory, not prefetchable
        c.write(offset: Offset.bar0, size: 4, value: 0xFFFF_FFFF)
        c.write(offset: Offset.bar0 + 4, size: 4, value: 0xFFFF_FFFF)
        #expect(c.read(offset: Offset.bar0, size: 4) == 0xFFFF_8004)  // 32 KiB
        #expect(c.read(offset: Offset.bar0 + 4, size: 4) == 0xFFFF_FFFF)
        #expect(c.read(offset: Offset.bar0 + 8, size: 4) == 0)  // BAR 2: none
        c.write(offset: Offset.bar0, size: 4, value: 0xE000_0000)
        c.write(offset: Offset.bar0 + 4, size: 4, value: 0x1)
        #expect(c.barAddress(0) == nil)  // memory space not enabled yet
        c.write(offset: Offset.command, size: 2, value: UInt32(PCIConfigurationSpace.Command.memorySpace))
        #expect(c.barAddress(0) == 0x1_E000_0000)
        // Read-only identity survives writes.
        c.write(offset: Offset.vendorID, size: 4, value: 0)
        #expect(c.read(offset: Offset.vendorID, size: 2) == 0x1AF4)
    }

    @Test func withoutMSIXInterruptsGoByINTxAndTheISR() throws {
        let m = try Machine()
        try m.start()
        try m.request()
        #expect(m.recorder.level)
        #expect(m.transport.configuration.read(offset: Offset.status, size: 2) & UInt32(PCIConfigurationSpace.Status.interrupt) != 0)
        #expect(m.driver.readISR() == 1)
        #expect(m.driver.readISR() == 0)  // reading cleared it
        #expect(m.recorder.level == false)
        #expect(m.recorder.sent.isEmpty)
        // INTx disabled in the command register: the status bit still tells, the pin stays low.
        m.transport.configuration.write(offset: Offset.command, size: 2, value: UInt32(PCIConfigurationSpace.Command.interruptDisable))
        try m.request()
        #expect(m.recorder.level == false)
        #expect(m.driver.readISR() == 1)
    }

    @Test func withMSIXEachQueueSignalsItsOwnVector() throws {
        let m = try Machine()
        m.driver.programMSIX(vector: 0, address: 0xFEE0_0000, data: 0x41, tableOffset: Layout.msixTable)
        m.driver.programMSIX(vector: 1, address: 0xFEE0_1000, data: 0x42, tableOffset: Layout.msixTable)
        try m.start()
        #expect(m.driver.assignVectors(config: 1, queue: 0, vector: 0) == (1, 0))
        try m.request()
        #expect(m.recorder.sent.map(\.1) == [0x41])
        #expect(m.recorder.sent.first?.0 == 0xFEE0_0000)
        #expect(m.recorder.level == false)  // no INTx while MSI-X is on
        m.transport.core.configurationChanged()
        #expect(m.recorder.sent.map(\.1) == [0x41, 0x42])
        // A vector the device does not have reads back as NO_VECTOR, and nothing is sent for it.
        #expect(m.driver.assignVectors(config: 1, queue: 0, vector: 9) == (1, 0xFFFF))
        try m.request()
        #expect(m.recorder.sent.count == 2)
    }

    @Test func aMaskedVectorIsHeldPendingAndSentOnUnmask() throws {
        let m = try Machine()
        m.driver.programMSIX(vector: 0, address: 0xFEE0_0000, data: 0x51, tableOffset: Layout.msixTable)
        try m.start()
        _ = m.driver.assignVectors(config: 0xFFFF, queue: 0, vector: 0)
        m.transport.bar.write(offset: Layout.msixTable + 12, size: 4, value: 1)  // mask vector 0
        try m.request()
        #expect(m.recorder.sent.isEmpty)
        #expect(m.transport.bar.read(offset: Layout.msixPBA, size: 4) == 1)
        m.transport.bar.write(offset: Layout.msixTable + 12, size: 4, value: 0)  // unmask
        #expect(m.recorder.sent.map(\.1) == [0x51])
        #expect(m.transport.bar.read(offset: Layout.msixPBA, size: 4) == 0)
    }

    @Test func resetForgetsTheVectorChoices() throws {
        let m = try Machine()
        try m.start()
        _ = m.driver.assignVectors(config: 0, queue: 0, vector: 1)
        m.driver.reset()
        #expect(m.driver.common(0x10, size: 2) == 0xFFFF)
        m.driver.setCommon(0x16, size: 2, 0)
        #expect(m.driver.common(0x1A, size: 2) == 0xFFFF)
        #expect(m.driver.status == [])
    }

    @Test func theConfigurationWindowReachesBarZeroWithoutMappingIt() throws {
        let m = try Machine()
        let d = m.driver
        #expect(d.configWindowCapability != nil)
        #expect(m.transport.configuration.barAddress(0) == nil)  // memory decoding is off
        // Status through the window, one byte wide; the device sees it.
        #expect(d.writeThroughConfigWindow(offset: 0x14, length: 1, value: 1))
        #expect(m.transport.core.status == [.acknowledge])
        #expect(d.readThroughConfigWindow(offset: 0x14, length: 1) == 1)
        // Device features word 0 reads the same as through the BAR.
        d.setCommon(0x00, size: 4, 1)
        #expect(d.readThroughConfigWindow(offset: 0x04, length: 4) == d.common(0x04, size: 4))
        #expect(d.readThroughConfigWindow(offset: 0x04, length: 4) != 0)  // VERSION_1 is offered
        // A queue notification through the window reaches the device.
        d.reset()
        try m.start()
        _ = try d.queues[0].submit(DriverRequest(writableLengths: [16]))
        d.writeThroughConfigWindow(offset: UInt32(Layout.notify), length: 2, value: 0)
        #expect(try d.queues[0].takeCompletions().map(\.writtenLength) == [16])
    }

    @Test func aBadlyProgrammedConfigurationWindowIsIgnored() throws {
        let m = try Machine()
        let d = m.driver
        let status = { m.transport.core.status }
        for (bar, offset, length) in [(0, 0x14, 3), (0, 0x15, 2), (1, 0x14, 1), (5, 0x14, 1), (0, UInt32(VirtioPCITransport.barSize), 1),
                                      (0, UInt32.max - 1, 2), (0, 0x14, 0), (0xFF, 0x14, 1)] as [(UInt8, UInt32, UInt32)] {
            #expect(d.writeThroughConfigWindow(bar: bar, offset: offset, length: length, value: 0xFF))
            #expect(d.readThroughConfigWindow(bar: bar, offset: offset, length: length) == 0)
        }
        #expect(status() == [])
        // Accesses that straddle the window's edge neither reach the BAR nor the stored bytes.
        let cap = try #require(d.configWindowCapability)
        d.writeThroughConfigWindow(offset: 0x14, length: 1, value: 0)
        m.transport.configuration.write(offset: cap + 14, size: 4, value: 0x0001_0000)
        #expect(status() == [])
        #expect(m.transport.configuration.read(offset: cap + 14, size: 4) == 0)
    }

    @Test func badConfigurationAccessesAreHarmless() throws {
        let m = try Machine()
        let c = m.transport.configuration
        for (offset, size) in [(-1, 4), (255, 2), (254, 4), (0, 3), (0, 8)] {
            #expect(c.read(offset: offset, size: size) == 0)
            c.write(offset: offset, size: size, value: 0xFFFF_FFFF)
        }
        #expect(m.transport.bar.read(offset: Layout.common + 0x04, size: 2) == 0)  // wrong width
        #expect(m.transport.bar.read(offset: VirtioPCITransport.barSize + 8, size: 4) == 0)
        m.transport.bar.write(offset: Layout.notify + 4 * 500, size: 2, value: 0)  // no such queue
    }
}
