import Testing
import Synchronization
import EmuCore
@testable import EmuPC

/// A BAR's contents: a register that remembers the last write and counts accesses.
final class RecordingBar: MMIOHandler {
    private let state = Mutex<(value: UInt64, accesses: Int)>((0x1234_5678, 0))
    func read(offset: UInt64, size: Int) -> UInt64 {
        state.withLock { s in
            s.accesses += 1
            return s.value &+ offset
        }
    }
    func write(offset: UInt64, size: Int, value: UInt64) {
        state.withLock { s in
            s.accesses += 1
            s.value = value
        }
    }
    var accesses: Int { state.withLock { $0.accesses } }
}

/// A bridge wired into a memory and an I/O address space as the PC does it, with 16 MiB of RAM.
struct PCIRig {
    let bridge: PCIHostBridge
    let memory: AddressSpace
    let io: AddressSpace
    let ram: MemoryRegion
    let resets = CallCounter()

    init() throws {
        let counter = resets
        bridge = try PCIHostBridge(resetControl: ResetControlRegister { _ in counter.increment() })
        let system = try MemoryRegion.container(name: "system", size: 1 << 48)
        ram = try MemoryRegion.ram(name: "ram", size: 16 << 20)
        try system.addSubregion(ram, at: 0)
        try system.addSubregion(bridge.bus.memoryWindow, at: 0, priority: -1)
        try system.addSubregion(try .mmio(name: "ecam", size: PCMemoryMap.ecamSize, handler: bridge.ecam),
                                at: PCMemoryMap.ecamBase)
        let ports = try MemoryRegion.container(name: "io", size: 0x1_0000)
        try ports.addSubregion(bridge.bus.ioWindow, at: 0, priority: -1)
        try ports.addSubregion(try .mmio(name: "pci-conf", size: 8, handler: bridge.configurationPorts),
                               at: PCMemoryMap.pciConfigurationPorts)
        memory = AddressSpace(name: "memory", root: system)
        io = AddressSpace(name: "io", root: ports, kind: .io)
    }

    /// Mechanism #1: a read of `size` bytes at `offset` of 00:device.function on `bus`.
    func portRead(bus: UInt32 = 0, device: UInt32, function: UInt32 = 0, offset: UInt32, size: Int) -> UInt64 {
        io.write(at: 0xCF8, size: 4, value: UInt64(0x8000_0000 | bus << 16 | device << 11 | function << 8 | offset & 0xFC))
        return io.read(at: 0xCFC + UInt64(offset & 3), size: size)
    }

    func portWrite(device: UInt32, function: UInt32 = 0, offset: UInt32, size: Int, value: UInt64) {
        io.write(at: 0xCF8, size: 4, value: UInt64(0x8000_0000 | device << 11 | function << 8 | offset & 0xFC))
        io.write(at: 0xCFC + UInt64(offset & 3), size: size, value: value)
    }

    func ecamAddress(bus: UInt64 = 0, device: UInt64, function: UInt64 = 0, offset: UInt64) -> UInt64 {
        PCMemoryMap.ecamBase + (bus << 20 | device << 15 | function << 12 | offset)
    }

    static func function(bars: [Int: PCIBar]) throws -> PCIConfigurationSpace {
        try PCIConfigurationSpace(vendorID: 0x1AF4, deviceID: 0x1042, revision: 1, classCode: 0x01_0000,
                                  subsystemVendorID: 0x1AF4, subsystemID: 2, interruptPin: 1, bars: bars)
    }
}

@Suite("PCI host bridge")
struct PCIHostBridgeTests {
    @Test func mechanismOneReadsTheHostBridgeInBytesWordsAndDwords() throws {
        let rig = try PCIRig()
        #expect(rig.portRead(device: 0, offset: 0, size: 4) == 0x0008_1B36)
        #expect(rig.portRead(device: 0, offset: 2, size: 2) == 0x0008)
        #expect(rig.portRead(device: 0, offset: 0x0B, size: 1) == 0x06, "class: bridge")
        #expect(rig.portRead(device: 0, offset: 0x0A, size: 1) == 0x00, "subclass: host bridge")
        #expect(rig.portRead(device: 0, offset: 0x08, size: 4) >> 8 == 0x06_0000)
        rig.io.write(at: 0xCF8, size: 4, value: 0xFFFF_FFFF)
        #expect(rig.io.read(at: 0xCF8, size: 4) == 0x80FF_FFFC, "reserved bits read 0")
        rig.io.write(at: 0xCF8, size: 4, value: 0x0000_0000)
        #expect(rig.io.read(at: 0xCFC, size: 4) == 0xFFFF_FFFF, "enable bit clear: all-ones")
        #expect(rig.io.read(at: 0xCF8, size: 1) == 0xFF, "narrow accesses are not the address register")
    }

    @Test func unattachedFunctionsAndOtherBusesReadAllOnes() throws {
        let rig = try PCIRig()
        #expect(rig.portRead(device: 5, offset: 0, size: 4) == 0xFFFF_FFFF)
        #expect(rig.portRead(device: 0, function: 3, offset: 0, size: 2) == 0xFFFF)
        #expect(rig.portRead(bus: 1, device: 0, offset: 0, size: 4) == 0xFFFF_FFFF)
        rig.portWrite(device: 5, offset: 4, size: 2, value: 7)
        #expect(rig.memory.read(at: rig.ecamAddress(device: 5, offset: 0), size: 4) == 0xFFFF_FFFF)
        #expect(rig.memory.read(at: rig.ecamAddress(bus: 3, device: 0, offset: 0), size: 4) == 0xFFFF_FFFF)
    }

    @Test func ecamSeesTheSameSpaceIncludingExtendedOffsets() throws {
        let rig = try PCIRig()
        #expect(rig.memory.read(at: rig.ecamAddress(device: 0, offset: 0), size: 4) == 0x0008_1B36)
        #expect(rig.memory.read(at: rig.ecamAddress(device: 0, offset: 0x0B), size: 1) == 0x06)
        #expect(rig.memory.read(at: rig.ecamAddress(device: 0, offset: 0x100), size: 4) == 0, "no extended capabilities")
        rig.memory.write(at: rig.ecamAddress(device: 0, offset: 4), size: 2, value: 0x6)
        #expect(rig.portRead(device: 0, offset: 4, size: 2) == 0x6)
        #expect(rig.memory.read(at: rig.ecamAddress(device: 0, offset: 0), size: 8) == 0x0000_0000_0008_1B36 | 0x0006 << 32,
                "an 8-byte read is two dwords")
    }

    @Test func byteAccessesAtCF9ReachTheResetControlRegister() throws {
        let rig = try PCIRig()
        rig.io.write(at: 0xCF8, size: 4, value: 0x8000_0000)
        rig.io.write(at: 0xCF9, size: 1, value: 0x02)
        #expect(rig.resets.value == 0)
        #expect(rig.io.read(at: 0xCF9, size: 1) == 0x02)
        rig.io.write(at: 0xCF9, size: 1, value: 0x06)
        #expect(rig.resets.value == 1)
        #expect(rig.io.read(at: 0xCF8, size: 4) == 0x8000_0000, "the address register is untouched")
        let plain = try PCIHostBridge()
        #expect(plain.configurationPorts.read(offset: 1, size: 1) == 0xFF, "no reset register: all-ones")
    }

    @Test func attachingChecksAddressesAndMarksMultiFunctionDevices() throws {
        let rig = try PCIRig()
        let f0 = try PCIRig.function(bars: [:]), f2 = try PCIRig.function(bars: [:])
        #expect(throws: PCIHostBridgeError.slotInUse(device: 0, function: 0)) { try rig.bridge.bus.attach(f0, device: 0, function: 0) }
        #expect(throws: PCIHostBridgeError.invalidAddress(device: 32, function: 0)) { try rig.bridge.bus.attach(f0, device: 32, function: 0) }
        #expect(throws: PCIHostBridgeError.noSuchBar(device: 3, function: 0, bar: 1)) {
            try rig.bridge.bus.attach(f0, bars: [1: RecordingBar()], device: 3, function: 0)
        }
        try rig.bridge.bus.attach(f0, device: 3, function: 0)
        #expect(rig.portRead(device: 3, offset: 0x0E, size: 1) == 0)
        try rig.bridge.bus.attach(f2, device: 3, function: 2)
        #expect(rig.portRead(device: 3, offset: 0x0E, size: 1) == 0x80, "function 0 says multi-function")
        #expect(rig.portRead(device: 3, function: 2, offset: 0, size: 2) == 0x1AF4)
    }
}
