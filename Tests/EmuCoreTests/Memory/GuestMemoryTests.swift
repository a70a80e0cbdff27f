import Testing
@testable import EmuCore

@Suite("GuestMemory")
struct GuestMemoryTests {
    /// ram0 [0, 0x10000), ram1 [0x10000, 0x20000) (separate block), rom [0x20000, 0x21000),
    /// dev [0x21000, 0x21100), hole, ram2 [0x30000, 0x31000).
    struct Machine {
        let space: AddressSpace
        let ram0: RAMBlock
        let ram1: RAMBlock
        let rom: MemoryRegion
    }

    func machine() throws -> Machine {
        let root = try MemoryRegion.container(name: "sys", size: 0x100000)
        let ram0 = try MemoryRegion.ram(name: "ram0", size: 0x10000)
        let ram1 = try MemoryRegion.ram(name: "ram1", size: 0x10000)
        let rom = try MemoryRegion.rom(name: "rom", size: 0x1000)
        try root.addSubregion(ram0, at: 0)
        try root.addSubregion(ram1, at: 0x10000)
        try root.addSubregion(rom, at: 0x20000)
        try root.addSubregion(try MemoryRegion.mmio(name: "dev", size: 0x100, handler: RecordingDevice()), at: 0x21000)
        try root.addSubregion(try MemoryRegion.ram(name: "ram2", size: 0x1000), at: 0x30000)
        return Machine(space: AddressSpace(name: "m", root: root), ram0: try #require(ram0.ramBlock),
                       ram1: try #require(ram1.ramBlock), rom: rom)
    }

    @Test func roundTripsAcrossTwoRAMRegions() throws {
        let m = try machine()
        let data = (0..<32).map { UInt8($0 + 1) }
        try m.space.write(data, at: 0xFFF0)
        #expect(try m.space.read(count: 32, at: 0xFFF0) == data)
        #expect(m.space.readBytes(at: 0xFFF0, count: 32) == data)  // the bus agrees
        #expect(m.ram1.hostBase.load(as: UInt8.self) == 17)
    }

    @Test func typedLoadsAndStoresAreLittleEndian() throws {
        let m = try machine()
        try m.space.store(UInt32(0x1122_3344), at: 0x101)
        #expect(try m.space.read(count: 4, at: 0x101) == [0x44, 0x33, 0x22, 0x11])
        #expect(try m.space.load(UInt32.self, at: 0x101) == 0x1122_3344)
        try m.space.store(Int16(-2), at: 0xFFFF)  // straddles ram0/ram1
        #expect(try m.space.load(Int16.self, at: 0xFFFF) == -2)
        #expect(try m.space.load(UInt8.self, at: 0x0FFFF) == 0xFE)
    }

    @Test func typedLoadsAtTheLastValidByteAndOnePast() throws {
        let m = try machine()
        try m.space.store(UInt8(0x5A), at: 0x30FFF)
        #expect(try m.space.load(UInt8.self, at: 0x30FFF) == 0x5A)
        #expect(throws: GuestMemoryError.unmapped(address: 0x31000)) { try m.space.load(UInt16.self, at: 0x30FFF) }
        #expect(throws: GuestMemoryError.unmapped(address: 0x31000)) { try m.space.load(UInt8.self, at: 0x31000) }
        #expect(throws: GuestMemoryError.unmapped(address: 0x31000)) { try m.space.store(UInt64(1), at: 0x30FF9) }
        #expect(try m.space.load(UInt8.self, at: 0x30FFF) == 0x5A)  // failed store wrote nothing
        try m.space.store(UInt64.max, at: 0x30FF8)
    }

    @Test func hostileRangesAreErrorsNotTraps() throws {
        let m = try machine()
        #expect(throws: GuestMemoryError.zeroLength(address: 0)) { try m.space.read(count: 0, at: 0) }
        #expect(throws: GuestMemoryError.zeroLength(address: 5)) { try m.space.write([], at: 5) }
        #expect(throws: GuestMemoryError.zeroLength(address: 0)) { try m.space.map(0, length: 0, access: .read) }
        #expect(throws: GuestMemoryError.overflow(address: .max - 2, length: 8)) {
            try m.space.map(.max - 2, length: 8, access: .read)
        }
        #expect(throws: GuestMemoryError.overflow(address: .max - 2, length: 8)) {
            try m.space.load(UInt64.self, at: .max - 2)
        }
        #expect(throws: GuestMemoryError.overflow(address: 2, length: .max)) {
            try m.space.map(2, length: .max, access: .write)
        }
        // Ending exactly at UInt64.max is no overflow: the walk stops at the first non-RAM byte.
        #expect(throws: GuestMemoryError.readOnly(address: 0x20000)) {
            try m.space.map(1, length: .max, access: .write)
        }
        #expect(throws: GuestMemoryError.unmapped(address: .max)) { try m.space.load(UInt8.self, at: .max) }
        // Touching MMIO anywhere in the range.
        #expect(throws: GuestMemoryError.notRAM(address: 0x21000)) { try m.space.read(count: 16, at: 0x20FF8) }
        #expect(throws: GuestMemoryError.notRAM(address: 0x21010)) { try m.space.map(0x21010, length: 1, access: .read) }
        // Partly unassigned.
        #expect(throws: GuestMemoryError.unmapped(address: 0x31000)) { try m.space.read(count: 4, at: 0x30FFE) }
        #expect(throws: GuestMemoryError.unmapped(address: 0x22000)) { try m.space.map(0x22000, length: 4, access: .read) }
        #expect(throws: GuestMemoryError.unmapped(address: 0x31000)) { try m.space.map(0x30000, length: 0x2000, access: .read) }
        // A failed multi-region write copies nothing.
        try m.space.write([1, 2, 3, 4], at: 0x1FFFC)
        #expect(throws: GuestMemoryError.readOnly(address: 0x20000)) { try m.space.write([9, 9, 9, 9, 9], at: 0x1FFFC) }
        #expect(try m.space.read(count: 4, at: 0x1FFFC) == [1, 2, 3, 4])
        #expect(GuestMemoryError.overflow(address: 7, length: 9).address == 7)
        #expect(GuestMemoryError.notRAM(address: 0x10).description.contains("0x10"))
    }

    @Test func romIsReadableButNotWritable() throws {
        let m = try machine()
        try m.rom.hostWrite([0xEA, 0x5B], at: 0)
        #expect(try m.space.read(count: 2, at: 0x20000) == [0xEA, 0x5B])
        #expect(throws: GuestMemoryError.readOnly(address: 0x20000)) { try m.space.write([0], at: 0x20000) }
        #expect(throws: GuestMemoryError.readOnly(address: 0x20000)) { try m.space.map(0x20000, length: 2, access: .write) }
        #expect(throws: GuestMemoryError.readOnly(address: 0x20000)) { try m.space.map(0x1FFFF, length: 2, access: .readWrite) }
        let ro = try m.space.map(0x20000, length: 2, access: .read)
        #expect(Array(ro.segments[0]) == [0xEA, 0x5B])
    }

    @Test func mapAcrossTwoRAMRegionsGivesTwoSegmentsInOrder() throws {
        let m = try machine()
        let mapping = try m.space.map(0xFF00, length: 0x200, access: .readWrite)
        #expect(mapping.segments.count == 2)
        #expect(mapping.segments.map(\.count) == [0x100, 0x100])
        #expect(mapping.segments[0].baseAddress == m.ram0.hostBase + 0xFF00)
        #expect(mapping.segments[1].baseAddress == m.ram1.hostBase)
        #expect(mapping.length == 0x200 && mapping.address == 0xFF00)
        mapping.segments[1][0] = 0x77
        #expect(try m.space.load(UInt8.self, at: 0x10000) == 0x77)
        m.space.unmap(mapping, bytesWritten: 0x200)
        #expect(mapping.isUnmapped)
        let one = try m.space.map(0x100, length: 0x100, access: .read)
        #expect(one.segments.count == 1)
    }

    @Test func mappingKeepsRAMAliveAfterTheTopologyDropsIt() throws {
        let root = try MemoryRegion.container(name: "sys", size: 0x10000)
        var ram: MemoryRegion? = try MemoryRegion.ram(name: "ram", size: 0x1000)
        try root.addSubregion(try #require(ram), at: 0)
        let space = AddressSpace(name: "m", root: root)
        try space.write([1, 2, 3], at: 0)
        let mapping = try space.map(0, length: 3, access: .read)
        try root.removeSubregion(try #require(ram))
        ram = nil
        #expect(Array(mapping.segments[0]) == [1, 2, 3])
        #expect(throws: GuestMemoryError.unmapped(address: 0)) { try space.load(UInt8.self, at: 0) }
    }

    @Test func flatGuestMemoryForDeviceModelTests() throws {
        let low = try RAMBlock(name: "low", size: 0x1000)
        let high = try RAMBlock(name: "high", size: 0x1000)
        let bios = try RAMBlock(name: "bios", size: 0x1000)
        let mem = try FlatGuestMemory([
            .init(address: 0x1000, block: high),
            .init(address: 0, block: low),
            .init(address: 0xF0000, block: bios, readOnly: true),
        ])
        try mem.store(UInt32(0xAABB_CCDD), at: 0xFFE)
        #expect(try mem.load(UInt32.self, at: 0xFFE) == 0xAABB_CCDD)
        #expect(try mem.map(0xF00, length: 0x200, access: .read).segments.count == 2)
        #expect(throws: GuestMemoryError.unmapped(address: 0x2000)) { try mem.load(UInt8.self, at: 0x2000) }
        #expect(throws: GuestMemoryError.readOnly(address: 0xF0000)) { try mem.store(UInt8(1), at: 0xF0000) }
        #expect(throws: GuestMemoryError.overflow(address: .max, length: 2)) { try mem.load(UInt16.self, at: .max) }
        #expect(throws: FlatGuestMemoryError.overlap(address: 0x800)) {
            try FlatGuestMemory([.init(address: 0, block: low), .init(address: 0x800, block: high)])
        }
        #expect(throws: FlatGuestMemoryError.slotOverflows(address: .max - 0xFFF, size: 0x1000)) {
            try FlatGuestMemory([.init(address: .max - 0xFFF, block: low)])
        }
        let simple = try FlatGuestMemory(size: 0x2000, at: 0x4000)
        try simple.write([1], at: 0x5FFF)
        #expect(throws: FlatGuestMemoryError.ramBlock(.invalidSize(0))) { try FlatGuestMemory(size: 0) }
    }
}
