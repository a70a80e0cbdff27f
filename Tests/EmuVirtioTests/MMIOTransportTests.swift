import EmuCore
import EmuVirtio
import EmuVirtioEntropy
import EmuVirtioTesting
import Synchronization
import Testing

/// virtio-mmio with a virtio-rng behind it, driven through its registers.
@Suite("virtio-mmio transport and the device status machine")
struct MMIOTransportTests {
    typealias R = VirtioMMIOTransport.Register
    static let ringArea: Range<UInt64> = 0x10000..<0x200000

    final class Levels: Sendable {
        let log = Mutex<[Bool]>([])
        var current: Bool { log.withLock { $0.last ?? false } }
    }

    struct Machine {
        let memory: FlatGuestMemory
        let levels = Levels()
        let transport: VirtioMMIOTransport
        let driver: VirtioMMIODriver

        init(queueSize: UInt16 = 64) throws {
            memory = try FlatGuestMemory(size: 4 << 20)
            let levels = self.levels
            let line = IRQLine(name: "virtio-rng.irq") { level in levels.log.withLock { $0.append(level) } }
            transport = VirtioMMIOTransport(device: VirtioEntropyDevice(queueSize: queueSize), memory: memory, interrupt: line)
            driver = VirtioMMIODriver(device: transport)
        }

        func start(_ features: VirtioFeatures = [], size: UInt16 = 16) throws {
            try driver.initialize(features: features, queueSizes: [size], memory: memory, ringArea: MMIOTransportTests.ringArea)
        }
    }

    @Test func theRegistersIdentifyAVirtioRNG() throws {
        let m = try Machine()
        #expect(m.driver.register(R.magicValue) == 0x7472_6976)
        #expect(m.driver.register(R.version) == 2)
        #expect(m.driver.register(R.deviceID) == 4)
        #expect(m.driver.offeredFeatures == VirtioFeatures.ringFeatures.union(.version1))
        #expect(m.driver.register(R.sharedMemoryLengthLow) == UInt32.max)
        m.driver.setRegister(R.queueSelect, 0)
        #expect(m.driver.register(R.queueSizeMax) == 64)
        m.driver.setRegister(R.queueSelect, 1)
        #expect(m.driver.register(R.queueSizeMax) == 0)  // no such queue
        // Registers refuse other widths: a 2-byte read of the magic reads 0.
        #expect(m.transport.read(offset: R.magicValue, size: 2) == 0)
    }

    @Test(arguments: [VirtioFeatures(), .ringPacked, [.ringPacked, .eventIndex, .indirectDescriptors], [.eventIndex]])
    func aRequestIsFilledAndInterrupts(features: VirtioFeatures) throws {
        let m = try Machine()
        try m.start(features)
        #expect(m.driver.features == features.union(.version1))
        #expect(m.driver.status == [.acknowledge, .driver, .featuresOK, .driverOK])
        let q = m.driver.queues[0]
        let token = try q.submit(DriverRequest(writableLengths: [16, 48], indirect: features.contains(.indirectDescriptors)))
        m.driver.kick(0)
        let done = try q.takeCompletions()
        #expect(done.count == 1 && done[0].token == token && done[0].writtenLength == 64)
        #expect(done[0].written.contains { $0 != 0 })  // 64 zero bytes from getrandom: 2^-512
        #expect(m.driver.interruptStatus == 1)
        #expect(m.levels.current)
        m.driver.acknowledge(1)
        #expect(m.driver.interruptStatus == 0)
        #expect(m.levels.current == false)
    }

    @Test func nothingIsProcessedBeforeDriverOK() throws {
        let m = try Machine()
        let d = m.driver
        d.reset()
        d.setRegister(R.status, 3)
        try d.negotiate(.version1)
        let q = try SplitQueueDriver(memory: m.memory, size: 8, ringAddress: 0x10000, dataArea: 0x20000..<0x30000)
        d.setUp(queue: 0, q.configuration)
        d.setRegister(R.queueReady, 1)
        _ = try q.submit(DriverRequest(writableLengths: [8]))
        d.kick(0)
        #expect(try q.takeCompletions().isEmpty)
        #expect(m.driver.interruptStatus == 0)
        d.setRegister(R.status, 15)
        d.kick(0)
        #expect(try q.takeCompletions().count == 1)
    }

    @Test func featuresOutsideTheOfferOrWithoutVersion1AreRefused() throws {
        let m = try Machine()
        let d = m.driver
        d.reset()
        d.setRegister(R.status, 3)
        #expect(throws: VirtioMMIODriver.Failure.featuresRefused([.version1, .bit(0)])) { try d.negotiate([.version1, .bit(0)]) }
        d.reset()
        d.setRegister(R.status, 3)
        #expect(throws: VirtioMMIODriver.Failure.featuresRefused(.eventIndex)) { try d.negotiate(.eventIndex) }
        d.reset()
        d.setRegister(R.status, 3)
        try d.negotiate([.version1, .eventIndex])
        // Frozen after FEATURES_OK.
        d.setRegister(R.driverFeaturesSelect, 0)
        d.setRegister(R.driverFeatures, 0)
        #expect(m.transport.core.driverFeatureWord(0) == UInt32(VirtioFeatures.eventIndex.rawValue))
    }

    @Test func driverOKWithoutFeaturesOKNeedsAReset() throws {
        let m = try Machine()
        m.driver.reset()
        m.driver.setRegister(R.status, UInt32(VirtioDeviceStatus([.acknowledge, .driver, .driverOK]).rawValue))
        #expect(m.driver.status == [.acknowledge, .driver, .deviceNeedsReset])
        #expect(m.transport.core.lastError == "DRIVER_OK without FEATURES_OK")
        // Status bits are never cleared except by reset.
        m.driver.setRegister(R.status, 1)
        #expect(m.driver.status.contains(.deviceNeedsReset) && m.driver.status.contains(.driver))
        m.driver.reset()
        #expect(m.driver.status == [])
    }

    @Test func invalidRingsAtDriverOKNeedAResetAndRaiseTheConfigInterrupt() throws {
        let m = try Machine()
        let d = m.driver
        d.reset()
        d.setRegister(R.status, 3)
        try d.negotiate(.version1)
        d.setUp(queue: 0, VirtqueueConfiguration(format: .split, size: 16, descriptorArea: 8 << 20, driverArea: 0x2000, deviceArea: 0x3000))
        d.setRegister(R.queueReady, 1)
        d.setRegister(R.status, 15)
        #expect(d.status.contains(.deviceNeedsReset))
        #expect(d.interruptStatus == 2 && m.levels.current)
        #expect(m.transport.core.lastError?.contains("descriptors is not in guest RAM") == true)
        d.kick(0)  // not started: nothing happens, nothing crashes
    }

    @Test func aHostileChainAfterStartNeedsAResetAndTheDeviceRecoversAfterOne() throws {
        let m = try Machine()
        try m.start()
        let q = try #require(m.driver.queues[0] as? SplitQueueDriver)
        try q.writeDescriptor(index: 0, address: 0x40000, length: 8, flags: VirtqueueDescriptorFlags.next | VirtqueueDescriptorFlags.write, next: 0)
        try q.makeAvailable(head: 0)
        m.driver.kick(0)
        #expect(m.driver.status.contains(.deviceNeedsReset))
        #expect(m.driver.interruptStatus & 2 == 2)
        #expect(m.transport.core.lastError?.contains("longer than 16") == true)
        try m.start()  // reset and initialise again: a fresh queue
        #expect(m.driver.interruptStatus == 0 && m.levels.current == false)
        _ = try m.driver.queues[0].submit(DriverRequest(writableLengths: [8]))
        m.driver.kick(0)
        #expect(try m.driver.queues[0].takeCompletions().count == 1)
    }

    @Test func resetClearsQueuesFeaturesAndInterrupts() throws {
        let m = try Machine()
        try m.start()
        _ = try m.driver.queues[0].submit(DriverRequest(writableLengths: [8]))
        m.driver.kick(0)
        #expect(m.levels.current)
        m.driver.reset()
        #expect(m.driver.status == [] && m.driver.interruptStatus == 0 && m.levels.current == false)
        m.driver.setRegister(R.queueSelect, 0)
        #expect(m.driver.register(R.queueReady) == 0)
        #expect(m.driver.register(R.queueSize) == 64)
        #expect(m.driver.register(R.queueDescriptorLow) == 0)
        #expect(m.transport.core.driverFeatureWord(1) == 0)
    }

    @Test func queueRegistersAreFrozenWhileEnabledAndOversizedQueuesStayDisabled() throws {
        let m = try Machine(queueSize: 16)
        let d = m.driver
        d.reset()
        d.setRegister(R.status, 3)
        d.setRegister(R.queueSelect, 0)
        d.setRegister(R.queueSize, 32)
        d.setRegister(R.queueReady, 1)
        #expect(d.register(R.queueReady) == 0)  // 32 > 16
        d.setRegister(R.queueSize, 8)
        d.setRegister(R.queueReady, 1)
        #expect(d.register(R.queueReady) == 1)
        d.setRegister(R.queueSize, 4)
        d.setRegister(R.queueDescriptorLow, 0x5000)
        #expect(d.register(R.queueSize) == 8 && d.register(R.queueDescriptorLow) == 0)
    }

    @Test func theDriversInterruptSuppressionIsHonoured() throws {
        let m = try Machine()
        try m.start()
        let q = m.driver.queues[0]
        try q.suppressInterrupts(true)
        _ = try q.submit(DriverRequest(writableLengths: [8]))
        m.driver.kick(0)
        #expect(try q.takeCompletions().count == 1)
        #expect(m.driver.interruptStatus == 0 && m.levels.current == false)
    }

    @Test func throughTheMemoryBusAsACPUWould() throws {
        let root = try MemoryRegion.container(name: "system", size: 1 << 32)
        let ram = try MemoryRegion.ram(name: "ram", size: 4 << 20)
        try root.addSubregion(ram, at: 0)
        let space = AddressSpace(name: "memory", root: root)
        let transport = VirtioMMIOTransport(device: VirtioEntropyDevice(), memory: space, interrupt: IRQLine(unconnected: "irq"))
        try root.addSubregion(try MemoryRegion.mmio(name: "virtio-mmio", size: VirtioMMIOTransport.regionSize, handler: transport),
                              at: 0xD000_0000)
        let driver = VirtioMMIODriver(space: space, base: 0xD000_0000)
        try driver.initialize(features: [.eventIndex], queueSizes: [32], memory: space, ringArea: Self.ringArea)
        // A 64-bit write of the queue-notify register is split into two 32-bit writes by the bus.
        _ = try driver.queues[0].submit(DriverRequest(writableLengths: [100]))
        space.write(at: 0xD000_0000 + R.queueNotify, size: 8, value: 0)
        let done = try driver.queues[0].takeCompletions()
        #expect(done.map(\.writtenLength) == [100])
        #expect(space.read(at: 0xD000_0000 + R.interruptStatus, size: 4) == 1)
    }
}

/// A model that records what the transport calls, to check the transport's own guarantees.
final class RecordingVirtioDevice: VirtioDeviceModel {
    let deviceType = VirtioDeviceType(rawValue: 0x1234)
    let offeredFeatures: VirtioFeatures = .bit(3)
    let queueMaxSizes: [UInt16] = [8, 8]
    let configSize = 6
    let calls = Mutex<[String]>([])
    let config = Mutex<[UInt8]>([1, 2, 3, 4, 5, 6])

    func readConfig(offset: Int, size: Int) -> UInt32 {
        config.withLock { c in (0..<size).reduce(0) { $0 | UInt32(c[offset + $1]) << (8 * UInt32($1)) } }
    }
    func writeConfig(offset: Int, size: Int, value: UInt32) {
        config.withLock { c in for i in 0..<size { c[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) } }
    }
    func start(_ context: VirtioDeviceContext) {
        calls.withLock { $0.append("start \(context.features) queues \(context.queues.map { $0 != nil })") }
    }
    func queueNotified(_ index: Int) { calls.withLock { $0.append("notify \(index)") } }
    func reset() { calls.withLock { $0.append("reset") } }
}

@Suite("virtio transport guarantees to device models")
struct TransportGuaranteeTests {
    typealias R = VirtioMMIOTransport.Register

    @Test func modelsSeeNoKickBeforeStartAndOnlyEnabledQueues() throws {
        let memory = try FlatGuestMemory(size: 4 << 20)
        let device = RecordingVirtioDevice()
        let transport = VirtioMMIOTransport(device: device, memory: memory, interrupt: IRQLine(unconnected: "irq"))
        let driver = VirtioMMIODriver(device: transport)
        driver.reset()
        driver.kick(0)
        driver.setRegister(R.status, 3)
        try driver.negotiate([.version1, .bit(3)])
        driver.kick(1)
        try driver.initialize(features: [.bit(3)], queueSizes: [8, 8], memory: memory, ringArea: 0x10000..<0x200000, enable: [1])
        driver.kick(1)
        driver.kick(7)  // no such queue
        #expect(device.calls.withLock { $0 } == ["reset", "reset", "start 0x100000008 queues [false, true]", "notify 1"])
    }

    @Test func configurationSpaceIsBoundsChecked() throws {
        let memory = try FlatGuestMemory(size: 1 << 20)
        let device = RecordingVirtioDevice()
        let transport = VirtioMMIOTransport(device: device, memory: memory, interrupt: IRQLine(unconnected: "irq"))
        #expect(transport.read(offset: R.config, size: 4) == 0x0403_0201)
        #expect(transport.read(offset: R.config + 4, size: 2) == 0x0605)
        #expect(transport.read(offset: R.config + 4, size: 4) == 0)  // runs past the 6 bytes
        #expect(transport.read(offset: R.config + 0xFF, size: 1) == 0)
        transport.write(offset: R.config + 5, size: 1, value: 0xAA)
        transport.write(offset: R.config + 6, size: 1, value: 0xBB)  // outside: ignored
        #expect(device.config.withLock { $0 } == [1, 2, 3, 4, 5, 0xAA])
        let before = transport.core.configGeneration
        transport.core.configurationChanged()
        #expect(transport.read(offset: R.configGeneration, size: 4) == UInt64(before &+ 1))
    }
}
