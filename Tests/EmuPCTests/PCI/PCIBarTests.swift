import Testing
import EmuCore
@testable import EmuPC

@Suite("PCI BAR assignment and mapping")
struct PCIBarTests {
    @Test func resourcesAreAssignedInTheWindowsNaturallyAlignedWithDecodingOn() throws {
        let rig = try PCIRig()
        let bars: [Int: PCIBar] = [
            0: try #require(PCIBar(.memory64, size: 0x8000)),
            2: try #require(PCIBar(.memory32, size: 0x1000)),
            3: try #require(PCIBar(.io, size: 32)),
        ]
        let contents = [0: RecordingBar(), 2: RecordingBar(), 3: RecordingBar()]
        let function = try PCIRig.function(bars: bars)
        try rig.bridge.bus.attach(function, bars: contents, device: 1, function: 0)
        let other = try PCIRig.function(bars: [0: try #require(PCIBar(.memory32, size: 0x10_0000))])
        try rig.bridge.bus.attach(other, bars: [0: RecordingBar()], device: 2, function: 0)
        #expect(rig.bridge.bus.mappedBars(device: 1, function: 0).isEmpty, "nothing decodes before assignment")

        let windows = PCIResourceWindows.pc(memorySize: 256 << 20)
        let assignments = try rig.bridge.bus.assignResources(in: windows)
        #expect(assignments.count == 4)
        for a in assignments {
            #expect(a.address % a.size == 0, "BAR \(a.bar) of \(a.device) naturally aligned")
            let mmio64 = try #require(windows.mmio64)
            let window = a.kind == .io ? windows.io : a.kind == .memory64 ? mmio64 : windows.mmio32
            #expect(window.contains(a.address) && window.contains(a.address + a.size - 1))
        }
        #expect(assignments.first?.size == 0x10_0000, "largest first")
        #expect(windows.mmio64?.lowerBound == 1 << 32, "the 64-bit window starts at 4 GiB with 256 MiB of RAM")
        let command = rig.portRead(device: 1, offset: 4, size: 2)
        #expect(command & 0x3 == 0x3, "memory and I/O decoding enabled")
        let mapped = rig.bridge.bus.mappedBars(device: 1, function: 0)
        let bar0 = try #require(mapped[0]), bar2 = try #require(mapped[2]), bar3 = try #require(mapped[3])
        #expect(rig.portRead(device: 1, offset: 0x10, size: 4) == UInt64(UInt32(truncatingIfNeeded: bar0)) | 0x4)
        #expect(rig.portRead(device: 1, offset: 0x14, size: 4) == bar0 >> 32)
        #expect(rig.memory.read(at: bar0 + 8, size: 4) == 0x1234_5680, "BAR 0's handler at its address")
        rig.memory.write(at: bar2, size: 4, value: 0xAB)
        #expect(rig.memory.read(at: bar2, size: 4) == 0xAB)
        #expect(rig.io.read(at: bar3, size: 1) == 0x78, "the I/O BAR in the port space")
        #expect(contents[0]?.accesses == 1 && contents[2]?.accesses == 2 && contents[3]?.accesses == 1)
    }

    @Test func aFullWindowIsAnError() throws {
        let rig = try PCIRig()
        let function = try PCIRig.function(bars: [0: try #require(PCIBar(.memory32, size: 0x2000))])
        try rig.bridge.bus.attach(function, bars: [0: RecordingBar()], device: 1, function: 0)
        let tiny = PCIResourceWindows(mmio32: 0xC000_0000..<0xC000_1000, mmio64: nil, io: 0x1000..<0x2000)
        #expect(throws: PCIHostBridgeError.windowExhausted(device: 1, function: 0, bar: 0, size: 0x2000)) {
            try rig.bridge.bus.assignResources(in: tiny)
        }
    }

    @Test func theGuestSizesAndMovesABarAndDecodingHidesIt() throws {
        let rig = try PCIRig()
        let function = try PCIRig.function(bars: [1: try #require(PCIBar(.memory32, size: 0x4000))])
        let contents = RecordingBar()
        try rig.bridge.bus.attach(function, bars: [1: contents], device: 4, function: 0)
        try rig.bridge.bus.assignResources(in: .pc(memorySize: 256 << 20))
        let first = try #require(rig.bridge.bus.mappedBars(device: 4, function: 0)[1])
        // Linux's sizing: decoding off, all-ones, read the mask, restore.
        rig.portWrite(device: 4, offset: 4, size: 2, value: 0)
        #expect(rig.bridge.bus.mappedBars(device: 4, function: 0).isEmpty)
        #expect(rig.memory.read(at: first, size: 4) == 0xFFFF_FFFF, "decoding off: gone")
        rig.portWrite(device: 4, offset: 0x14, size: 4, value: 0xFFFF_FFFF)
        #expect(rig.portRead(device: 4, offset: 0x14, size: 4) == 0xFFFF_C000)
        rig.portWrite(device: 4, offset: 0x14, size: 4, value: 0xD000_0000)
        rig.portWrite(device: 4, offset: 4, size: 2, value: 2)
        #expect(rig.bridge.bus.mappedBars(device: 4, function: 0)[1] == 0xD000_0000)
        #expect(rig.memory.read(at: 0xD000_0004, size: 4) == 0x1234_567C)
        #expect(rig.memory.read(at: first, size: 4) == 0xFFFF_FFFF, "nothing left at the old base")
        rig.memory.write(at: rig.ecamAddress(device: 4, offset: 0x14), size: 4, value: 0xD100_0000)
        #expect(rig.memory.read(at: 0xD100_0000, size: 4) == 0x1234_5678, "moved again through ECAM")
    }

    @Test func aBarMovedOverRAMIsShadowedByRAMAndTheHostStaysSound() throws {
        let rig = try PCIRig()
        let function = try PCIRig.function(bars: [0: try #require(PCIBar(.memory32, size: 0x1000))])
        let contents = RecordingBar()
        try rig.bridge.bus.attach(function, bars: [0: contents], device: 1, function: 0)
        try rig.bridge.bus.assignResources(in: .pc(memorySize: 256 << 20))
        rig.memory.write(at: 0x10_0000, size: 8, value: 0x1122_3344_5566_7788)
        rig.portWrite(device: 1, offset: 0x10, size: 4, value: 0x10_0000)  // over RAM at 1 MiB
        #expect(rig.bridge.bus.mappedBars(device: 1, function: 0)[0] == 0x10_0000)
        #expect(rig.memory.read(at: 0x10_0000, size: 8) == 0x1122_3344_5566_7788, "RAM wins")
        rig.memory.write(at: 0x10_0008, size: 4, value: 0xCAFE)
        #expect(try #require(rig.ram.ramBlock).hostBase.load(fromByteOffset: 0x10_0008, as: UInt32.self) == 0xCAFE)
        #expect(contents.accesses == 0, "the device never saw the accesses")
        rig.portWrite(device: 1, offset: 0x10, size: 4, value: 0xFF_F000)  // RAM's last page
        #expect(rig.memory.read(at: 0xFF_F000, size: 4) == 0, "RAM below 16 MiB")
        rig.portWrite(device: 1, offset: 0x10, size: 4, value: 0xC000_0000)
        #expect(rig.memory.read(at: 0xC000_0000, size: 4) == 0x1234_5678, "back in the window, reachable again")
        for i in 0..<2000 {  // a guest moving a BAR in a loop
            rig.portWrite(device: 1, offset: 0x10, size: 4, value: UInt64(i) << 12)
        }
        #expect(rig.memory.read(at: 0x5000, size: 4) == 0, "RAM is still RAM")
    }

    @Test func a64BitBarAnywhereInTheAddressSpaceIsHarmless() throws {
        let rig = try PCIRig()
        let function = try PCIRig.function(bars: [0: try #require(PCIBar(.memory64, size: 0x4000))])
        try rig.bridge.bus.attach(function, bars: [0: RecordingBar()], device: 1, function: 0)
        try rig.bridge.bus.assignResources(in: .pc(memorySize: 256 << 20))
        rig.portWrite(device: 1, offset: 0x10, size: 4, value: 0xFFFF_C000)
        rig.portWrite(device: 1, offset: 0x14, size: 4, value: 0xFFFF_FFFF)  // at the top of the 64-bit space
        #expect(rig.bridge.bus.mappedBars(device: 1, function: 0)[0] == 0xFFFF_FFFF_FFFF_C000)
        #expect(rig.memory.read(at: 0xFFFF_FFFF_FFFF_C000, size: 4) == 0xFFFF_FFFF, "beyond the machine's address space")
        rig.portWrite(device: 1, offset: 0x14, size: 4, value: 0x1)
        #expect(rig.memory.read(at: 0x1_FFFF_C000, size: 4) == 0x1234_5678)
    }
}
