import Testing
@testable import EmuCore

@Suite("Topology and flat view")
struct TopologyTests {
    func filledRAM(_ name: String, _ size: UInt64, byte: UInt8) throws -> MemoryRegion {
        let r = try MemoryRegion.ram(name: name, size: size)
        try r.hostWrite([UInt8](repeating: byte, count: Int(size)), at: 0)
        return r
    }

    @Test func higherPriorityWinsAndLowerShowsThroughElsewhere() throws {
        let root = try MemoryRegion.container(name: "root", size: 0x10000)
        let low = try filledRAM("low", 0x4000, byte: 0x11)
        let high = try filledRAM("high", 0x1000, byte: 0x22)
        try root.addSubregion(high, at: 0x1000, priority: 1)
        try root.addSubregion(low, at: 0, priority: 0)  // added later, but lower priority
        let space = AddressSpace(name: "m", root: root)
        #expect(space.read(at: 0x0FFF, size: 1) == 0x11)
        #expect(space.read(at: 0x1000, size: 1) == 0x22)
        #expect(space.read(at: 0x1FFF, size: 1) == 0x22)
        #expect(space.read(at: 0x2000, size: 1) == 0x11)
        #expect(space.flatView.ranges.map(\.region.name) == ["low", "high", "low"])
        #expect(space.flatView.ranges.map(\.offsetInRegion) == [0, 0, 0x2000])
        // Changing priority at run time flips the winner.
        high.priority = -1
        #expect(space.read(at: 0x1000, size: 1) == 0x11)
    }

    @Test func equalPriorityLaterAddedWins() throws {
        let root = try MemoryRegion.container(name: "root", size: 0x10000)
        let first = try filledRAM("first", 0x2000, byte: 0xAA)
        let second = try filledRAM("second", 0x2000, byte: 0xBB)
        try root.addSubregion(first, at: 0)
        try root.addSubregion(second, at: 0x1000)
        let space = AddressSpace(name: "m", root: root)
        #expect(space.read(at: 0x0FFF, size: 1) == 0xAA)
        #expect(space.read(at: 0x1000, size: 1) == 0xBB)
        #expect(space.read(at: 0x2FFF, size: 1) == 0xBB)
    }

    @Test func enableDisableAndRemoveAtRunTimeChangeTheView() throws {
        let root = try MemoryRegion.container(name: "root", size: 0x10000)
        let base = try filledRAM("base", 0x10000, byte: 0x01)
        let overlay = try filledRAM("overlay", 0x1000, byte: 0x02)
        try root.addSubregion(base, at: 0)
        try root.addSubregion(overlay, at: 0x4000, priority: 5)
        let space = AddressSpace(name: "m", root: root)
        #expect(space.read(at: 0x4000, size: 1) == 0x02)
        overlay.isEnabled = false
        #expect(!overlay.isEnabled)
        #expect(space.read(at: 0x4000, size: 1) == 0x01)
        #expect(space.flatView.ranges.count == 1)
        overlay.isEnabled = true
        #expect(space.read(at: 0x4000, size: 1) == 0x02)
        try root.removeSubregion(overlay)
        #expect(overlay.container == nil)
        #expect(space.read(at: 0x4000, size: 1) == 0x01)
        try root.removeSubregion(base)
        #expect(space.read(at: 0x4000, size: 1) == 0xFF)
        #expect(space.flatView.ranges.isEmpty)
        // Adding back at run time, somewhere else.
        try root.addSubregion(overlay, at: 0x8000)
        #expect(space.read(at: 0x8000, size: 1) == 0x02)
        overlay.setOffsetInContainer(0x9000)
        #expect(space.read(at: 0x8000, size: 1) == 0xFF)
        #expect(space.read(at: 0x9000, size: 1) == 0x02)
    }

    @Test func programmingErrorsThrowClearErrors() throws {
        let root = try MemoryRegion.container(name: "root", size: 0x1000)
        let other = try MemoryRegion.container(name: "other", size: 0x1000)
        let ram = try MemoryRegion.ram(name: "ram", size: 0x1000)
        try root.addSubregion(ram, at: 0)
        #expect(throws: MemoryRegionError.alreadyInContainer(region: "ram", container: "root")) {
            try root.addSubregion(ram, at: 0)
        }
        #expect(throws: MemoryRegionError.alreadyInContainer(region: "ram", container: "root")) {
            try other.addSubregion(ram, at: 0)
        }
        #expect(throws: MemoryRegionError.notASubregion(region: "ram", container: "other")) {
            try other.removeSubregion(ram)
        }
        #expect(throws: MemoryRegionError.notAContainer(region: "ram")) {
            try ram.addSubregion(other, at: 0)
        }
        try root.addSubregion(other, at: 0)
        #expect(throws: MemoryRegionError.wouldContainItself(region: "root", container: "other")) {
            try other.addSubregion(root, at: 0)
        }
        #expect(throws: MemoryRegionError.wouldContainItself(region: "root", container: "root")) {
            try root.addSubregion(root, at: 0)
        }
        #expect(throws: MemoryRegionError.zeroSize(region: "z")) { try MemoryRegion.container(name: "z", size: 0) }
        let block = try RAMBlock(name: "b", size: 4096)
        #expect(throws: MemoryRegionError.self) { try MemoryRegion(name: "big", size: 8192, kind: .ram(block)) }
    }

    @Test func aliasWithOffsetShowsAWindowOfItsTarget() throws {
        let root = try MemoryRegion.container(name: "root", size: 0x100000)
        let ram = try MemoryRegion.ram(name: "ram", size: 0x10000)
        try root.addSubregion(ram, at: 0)
        // Window of ram[0x8000..<0xA000] at 0x80000.
        let alias = try MemoryRegion.alias(name: "hi", of: ram, offset: 0x8000, size: 0x2000)
        try root.addSubregion(alias, at: 0x80000)
        let space = AddressSpace(name: "m", root: root)
        space.write(at: 0x8010, size: 4, value: 0xCAFE_F00D)
        #expect(space.read(at: 0x80010, size: 4) == 0xCAFE_F00D)
        space.write(at: 0x81FFC, size: 4, value: 0x0BAD_BEEF)
        #expect(space.read(at: 0x9FFC, size: 4) == 0x0BAD_BEEF)
        #expect(space.read(at: 0x82000, size: 1) == 0xFF)  // alias ends
        let r = try #require(space.flatView.lookup(0x80000))
        #expect(r.region === ram && r.offsetInRegion == 0x8000 && r.size == 0x2000)
        // An alias reaching past its target's end leaves the rest unassigned.
        let tail = try MemoryRegion.alias(name: "tail", of: ram, offset: 0xF000, size: 0x4000)
        try root.addSubregion(tail, at: 0xC0000)
        #expect(space.flatView.lookup(0xC0FFF)?.region === ram)
        #expect(space.flatView.lookup(0xC1000) == nil)
    }

    @Test func nestedContainersComposeOffsetsAndPriorities() throws {
        let root = try MemoryRegion.container(name: "root", size: 0x100000)
        let pci = try MemoryRegion.container(name: "pci", size: 0x10000)
        let bar = try MemoryRegion.container(name: "bar", size: 0x1000)
        let device = RecordingDevice()
        try bar.addSubregion(try MemoryRegion.mmio(name: "regs", size: 0x100, handler: device), at: 0x800)
        try pci.addSubregion(bar, at: 0x2000)
        try root.addSubregion(pci, at: 0x40000, priority: 1)
        let ram = try filledRAM("ram", 0x100000, byte: 0x33)
        try root.addSubregion(ram, at: 0)
        let space = AddressSpace(name: "m", root: root)
        space.write(at: 0x42804, size: 2, value: 0x55AA)
        #expect(device.accesses == [.init(write: true, offset: 4, size: 2, value: 0x55AA)])
        // Holes in the higher-priority container show the RAM below.
        #expect(space.read(at: 0x42000, size: 1) == 0x33)
        #expect(space.read(at: 0x42900, size: 1) == 0x33)
        // Disabling an inner container is seen through the outer ones.
        bar.isEnabled = false
        #expect(space.read(at: 0x42804, size: 1) == 0x33)
        #expect(space.describe().contains("ram"))
    }

    @Test func aliasCycleIsReportedNotFollowed() throws {
        let root = try MemoryRegion.container(name: "root", size: 0x10000)
        let inner = try MemoryRegion.container(name: "inner", size: 0x1000)
        try root.addSubregion(inner, at: 0)
        let loop = try MemoryRegion.alias(name: "loop", of: inner, offset: 0, size: 0x1000)
        try inner.addSubregion(loop, at: 0)
        let selfAlias = try MemoryRegion.container(name: "c2", size: 0x1000)
        try selfAlias.addSubregion(try MemoryRegion.alias(name: "a1", of: root, offset: 0, size: 0x1000), at: 0)
        try selfAlias.addSubregion(try MemoryRegion.alias(name: "a2", of: root, offset: 0, size: 0x1000), at: 0)
        try root.addSubregion(selfAlias, at: 0x4000)
        let ram = try filledRAM("ram", 0x100, byte: 7)
        try root.addSubregion(ram, at: 0x8000)
        let space = AddressSpace(name: "m", root: root)
        #expect(space.flatView.problems.contains { $0.contains("cycle") })
        #expect(space.read(at: 0x8000, size: 1) == 7)
        #expect(space.read(at: 0, size: 1) == 0xFF)
        // Alias of itself through an alias-of-alias.
        let a = try MemoryRegion.container(name: "a", size: 0x100)
        let b = try MemoryRegion.alias(name: "b", of: a, offset: 0, size: 0x100)
        let c = try MemoryRegion.alias(name: "c", of: b, offset: 0, size: 0x100)
        try a.addSubregion(c, at: 0)
        let s2 = AddressSpace(name: "s2", root: b)
        #expect(!s2.flatView.problems.isEmpty)
        #expect(s2.read(at: 0, size: 4) == 0xFFFF_FFFF)
    }

    @Test func transactionRebuildsOnce() throws {
        let root = try MemoryRegion.container(name: "root", size: 0x100000)
        let space = AddressSpace(name: "m", root: root)
        let g0 = space.flatView.generation
        #expect(g0 == 1)
        let regions = try (0..<10).map { try MemoryRegion.ram(name: "r\($0)", size: 0x1000) }
        try MemoryRegion.transaction {
            for (i, r) in regions.enumerated() {
                try root.addSubregion(r, at: UInt64(i) * 0x1000)
            }
            regions[3].isEnabled = false
            MemoryRegion.transaction { regions[4].priority = 9 }  // nested: still deferred
            #expect(space.flatView.generation == g0)
        }
        #expect(space.flatView.generation == g0 + 1)
        #expect(space.flatView.ranges.count == 9)
        // Without a transaction each change rebuilds.
        regions[3].isEnabled = true
        regions[5].isEnabled = false
        #expect(space.flatView.generation == g0 + 3)
        // Changes to regions the space cannot see do not rebuild it.
        let unrelated = try MemoryRegion.container(name: "elsewhere", size: 0x1000)
        try unrelated.addSubregion(try MemoryRegion.ram(name: "x", size: 0x1000), at: 0)
        #expect(space.flatView.generation == g0 + 3)
    }

    @Test func thousandRegionsLookupIsCorrectAtEveryBoundary() throws {
        let root = try MemoryRegion.container(name: "root", size: 0x1_0000_0000)
        let device = RecordingDevice()
        var starts: [UInt64] = []
        try MemoryRegion.transaction {
            for i in 0..<1000 {
                // 0x100 bytes every 0x300 bytes, with gaps between.
                let start = UInt64(i) * 0x300
                starts.append(start)
                try root.addSubregion(try MemoryRegion.mmio(name: "d\(i)", size: 0x100, handler: device), at: start)
            }
        }
        let space = AddressSpace(name: "m", root: root)
        let view = space.flatView
        #expect(view.ranges.count == 1000)
        for (i, s) in starts.enumerated() {
            #expect(view.lookup(s)?.region.name == "d\(i)")
            #expect(view.lookup(s + 0xFF)?.offsetInRegion == 0)
            #expect(view.lookup(s + 0x100) == nil)
            if s > 0 { #expect(view.lookup(s - 1) == nil) }
        }
        #expect(view.lookup(.max) == nil)
    }

    @Test func mmioHandlerMayAccessTheBusAndChangeTopology() throws {
        let root = try MemoryRegion.container(name: "root", size: 0x10000)
        let ram = try MemoryRegion.ram(name: "ram", size: 0x1000)
        try root.addSubregion(ram, at: 0)
        let box = SpaceBox()
        // Writing the device's register toggles the RAM and copies a RAM word through the bus.
        let handler = ClosureMMIOHandler(read: { _, _ in box.space?.read(at: 0, size: 4) ?? 0 },
                                         write: { _, _, v in ram.isEnabled = v != 0 })
        try root.addSubregion(try MemoryRegion.mmio(name: "ctl", size: 8, handler: handler), at: 0x8000)
        let space = AddressSpace(name: "m", root: root)
        box.space = space
        space.write(at: 0, size: 4, value: 0x1234_5678)
        #expect(space.read(at: 0x8000, size: 4) == 0x1234_5678)
        space.write(at: 0x8000, size: 1, value: 0)
        #expect(space.read(at: 0, size: 4) == 0xFFFF_FFFF)
        space.write(at: 0x8000, size: 1, value: 1)
        #expect(space.read(at: 0, size: 4) == 0x1234_5678)
    }

    @Test func describeDumpsTheFlatViewLikeInfoMtree() throws {
        let root = try MemoryRegion.container(name: "system", size: 0x100000)
        let ram = try MemoryRegion.ram(name: "pc.ram", size: 0xA0000)
        try root.addSubregion(ram, at: 0)
        try root.addSubregion(try MemoryRegion.alias(name: "hi", of: ram, offset: 0x1000, size: 0x1000), at: 0xC0000, priority: 2)
        try root.addSubregion(try MemoryRegion.mmio(name: "vga", size: 0x20000, handler: RecordingDevice()), at: 0xA0000, priority: 1)
        let text = AddressSpace(name: "memory", root: root).describe()
        #expect(text.contains("AS \"memory\""))
        #expect(text.contains("0000000000000000-000000000009ffff (prio 0, ram): pc.ram"))
        #expect(text.contains("00000000000a0000-00000000000bffff (prio 1, i/o): vga"))
        #expect(text.contains("00000000000c0000-00000000000c0fff (prio 0, ram): pc.ram @0000000000001000"))
    }
}

final class SpaceBox: @unchecked Sendable {
    // Test helper: set once before any concurrent use.
    var space: AddressSpace?
}
