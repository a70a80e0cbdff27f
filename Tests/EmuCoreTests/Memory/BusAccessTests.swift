import Testing
import Glibc
@testable import EmuCore

@Suite("Bus access")
struct BusAccessTests {
    /// root(1 MiB): ram@0 (64 KiB), rom@0x10000 (4 KiB), dev@0x11000 (0x100), rest unassigned.
    struct Machine {
        let space: AddressSpace
        let ram: MemoryRegion
        let rom: MemoryRegion
        let device: RecordingDevice
    }

    func machine(_ sizes: MMIOAccessSizes = .any) throws -> Machine {
        let root = try MemoryRegion.container(name: "system", size: 0x100000)
        let ram = try MemoryRegion.ram(name: "ram", size: 0x10000)
        let rom = try MemoryRegion.rom(name: "rom", size: 0x1000)
        let device = RecordingDevice(sizes)
        let dev = try MemoryRegion.mmio(name: "dev", size: 0x100, handler: device)
        try root.addSubregion(ram, at: 0)
        try root.addSubregion(rom, at: 0x10000)
        try root.addSubregion(dev, at: 0x11000)
        return Machine(space: AddressSpace(name: "memory", root: root), ram: ram, rom: rom, device: device)
    }

    @Test(arguments: [1, 2, 4, 8])
    func ramRoundTripsEverySizeAtOddAddresses(size: Int) throws {
        let m = try machine()
        let value: UInt64 = 0x1122_3344_5566_7788 & MMIODispatch.mask(size)
        m.space.write(at: 0x123, size: size, value: value)
        #expect(m.space.read(at: 0x123, size: size) == value)
        // Little-endian: the low byte sits at the lowest address.
        #expect(m.space.read(at: 0x123, size: 1) == value & 0xff)
    }

    @Test func busWriteIsVisibleThroughTheMemfd() throws {
        let m = try machine()
        m.space.write(at: 0x2000, size: 4, value: 0xDEAD_BEEF)
        let block = try #require(m.ram.ramBlock)
        var bytes = [UInt8](repeating: 0, count: 4)
        #expect(pread(block.fd, &bytes, 4, 0x2000) == 4)
        #expect(bytes == [0xEF, 0xBE, 0xAD, 0xDE])
    }

    @Test func romIgnoresGuestWritesButHostCanFillIt() throws {
        let m = try machine()
        try m.rom.hostWrite([0xAA, 0xBB], at: 0)
        m.space.write(at: 0x10000, size: 2, value: 0x1234)
        m.space.writeBytes([1, 2, 3], at: 0x10000)
        #expect(m.space.read(at: 0x10000, size: 2) == 0xBBAA)
        #expect(throws: MemoryRegionError.self) { try m.rom.hostWrite([1, 2], at: 0xfff) }
    }

    @Test(arguments: [1, 2, 4, 8])
    func unassignedReadsAreAllOnes(size: Int) throws {
        let m = try machine()
        #expect(m.space.read(at: 0x50000, size: size) == MMIODispatch.mask(size))
        #expect(m.space.read(at: 0x200000, size: size) == MMIODispatch.mask(size))  // beyond root
        #expect(m.space.read(at: .max - 1, size: size) == MMIODispatch.mask(size))  // wraps nothing
        m.space.write(at: 0x50000, size: size, value: 0)  // ignored, no crash
        #expect(m.space.read(at: 0x50000, size: size) == MMIODispatch.mask(size))
    }

    @Test func invalidSizesNeverTrap() throws {
        let m = try machine()
        #expect(m.space.read(at: 0, size: 0) == .max)
        #expect(m.space.read(at: 0, size: 9) == .max)
        m.space.write(at: 0, size: -1, value: 1)
        #expect(m.device.accesses.isEmpty)
    }

    @Test func mmioWithMax4GetsTwoAccessesForAnEightByteRead() throws {
        let sizes = try #require(MMIOAccessSizes(minSize: 1, maxSize: 4))
        let m = try machine(sizes)
        let v = m.space.read(at: 0x11008, size: 8)
        #expect(m.device.accesses == [
            .init(write: false, offset: 8, size: 4, value: 0),
            .init(write: false, offset: 12, size: 4, value: 0),
        ])
        #expect(v == expected(m.device.pattern, 8, 8))
        m.device.reset()
        m.space.write(at: 0x11010, size: 8, value: 0x0102_0304_0506_0708)
        #expect(m.device.accesses == [
            .init(write: true, offset: 0x10, size: 4, value: 0x0506_0708),
            .init(write: true, offset: 0x14, size: 4, value: 0x0102_0304),
        ])
    }

    @Test func mmioNeverSeesUndeclaredSizesOrMisalignment() throws {
        let sizes = try #require(MMIOAccessSizes(minSize: 2, maxSize: 4, allowsUnaligned: false))
        let m = try machine(sizes)
        for offset: UInt64 in 0..<12 {
            for size in 1...8 {
                let v = m.space.read(at: 0x11000 + offset, size: size)
                #expect(v == expected(m.device.pattern, offset, size), "offset \(offset) size \(size)")
                m.space.write(at: 0x11000 + offset, size: size, value: 0x1122_3344_5566_7788)
            }
        }
        for a in m.device.accesses {
            #expect((2...4).contains(a.size) && a.size.nonzeroBitCount == 1)
            #expect(a.offset % UInt64(a.size) == 0)
        }
    }

    @Test func writeSmallerThanMinIsWidenedWithZeroBytes() throws {
        let m = try machine(.dwords)
        m.space.write(at: 0x11006, size: 1, value: 0xAB)
        #expect(m.device.accesses == [.init(write: true, offset: 4, size: 4, value: 0x00AB_0000)])
        m.device.reset()
        #expect(m.space.read(at: 0x11005, size: 2) == expected(m.device.pattern, 5, 2))
        #expect(m.device.accesses == [.init(write: false, offset: 4, size: 4, value: 0)])
    }

    @Test func unalignedAccessCrossingRAMIntoMMIOIsSplitPerByteRange() throws {
        // ram ends at 0xFFFF, ROM follows; put the device right after RAM in a fresh machine.
        let root = try MemoryRegion.container(name: "sys", size: 0x20000)
        let ram = try MemoryRegion.ram(name: "ram", size: 0x1000)
        let device = RecordingDevice()
        try root.addSubregion(ram, at: 0)
        try root.addSubregion(try MemoryRegion.mmio(name: "dev", size: 0x10, handler: device), at: 0x1000)
        let space = AddressSpace(name: "m", root: root)
        space.write(at: 0xFFD, size: 3, value: 0xCCBBAA)  // last 3 RAM bytes
        let v = space.read(at: 0xFFD, size: 8)
        // 3 bytes from RAM, 5 from the device: a 4-byte then a 1-byte device read.
        #expect(device.accesses == [
            .init(write: false, offset: 0, size: 4, value: 0),
            .init(write: false, offset: 4, size: 1, value: 0),
        ])
        let devicePart = expected(device.pattern, 0, 5)
        #expect(v == 0xCCBBAA | devicePart << 24)
        device.reset()
        space.write(at: 0xFFE, size: 4, value: 0x4433_2211)
        #expect(space.read(at: 0xFFE, size: 2) == 0x2211)
        #expect(device.accesses == [.init(write: true, offset: 0, size: 2, value: 0x4433)])
    }

    @Test func accessCrossingIntoUnassignedGetsOnesForTheMissingBytes() throws {
        let m = try machine()
        // Device is 0x100 bytes at 0x11000; 0x110FE..0x11105 straddles its end.
        let v = m.space.read(at: 0x110FE, size: 8)
        #expect(v == expected(m.device.pattern, 0xFE, 2) | 0xFFFF_FFFF_FFFF_0000)
        // An access running past UInt64.max does not wrap around to address 0.
        let root = try MemoryRegion.container(name: "big", size: .max)
        try root.addSubregion(try MemoryRegion.ram(name: "ram", size: 0x1000), at: 0)
        let space = AddressSpace(name: "big", root: root)
        space.write(at: .max - 3, size: 8, value: 0)
        #expect(space.read(at: 0, size: 8) == 0)
        #expect(space.read(at: .max - 3, size: 8) == .max)
    }

    @Test func bulkBytesUseBusSemantics() throws {
        let m = try machine()
        let data = (0..<64).map { UInt8($0) }
        m.space.writeBytes(data, at: 0xFFF0)  // 16 bytes RAM, then ROM (ignored)
        let back = m.space.readBytes(at: 0xFFF0, count: 64)
        #expect(Array(back[0..<16]) == Array(data[0..<16]))
        #expect(back[16...].allSatisfy { $0 == 0 })
        let dev = m.space.readBytes(at: 0x110F0, count: 32)
        #expect(Array(dev[0..<16]) == (0xF0..<0x100).map { m.device.pattern(UInt64($0)) })
        #expect(dev[16...].allSatisfy { $0 == 0xFF })
        #expect(m.space.readBytes(at: .max - 1, count: 4) == [0xFF, 0xFF, 0xFF, 0xFF])
    }

    @Test func ioPortSpaceDecodesOnly64K() throws {
        let root = try MemoryRegion.container(name: "io", size: 0x10000)
        let device = RecordingDevice(.bytes)
        try root.addSubregion(try MemoryRegion.mmio(name: "uart", size: 8, handler: device), at: 0x3F8)
        let io = AddressSpace(name: "I/O", root: root, kind: .io)
        io.write(at: 0x3F8, size: 1, value: 0x41)
        #expect(device.accesses == [.init(write: true, offset: 0, size: 1, value: 0x41)])
        #expect(io.read(at: 0x3F9, size: 2) == expected(device.pattern, 1, 2))
        #expect(io.read(at: 0x10000, size: 1) == 0xFF)
        let wide = try MemoryRegion.container(name: "wide", size: 0x20000)
        try wide.addSubregion(try MemoryRegion.ram(name: "r", size: 0x20000), at: 0)
        let io2 = AddressSpace(name: "io2", root: wide, kind: .io)
        #expect(io2.flatView.ranges.last?.end == 0x10000)
    }
}
