import EmuCore
import EmuVirtio
import EmuVirtioTesting
import Testing

/// What a hostile driver can write into a split ring, and what the device must answer: an error
/// that breaks the queue (until reset), never a trap, a hang, or an access outside RAM.
@Suite("Hostile split-ring drivers")
struct HostileSplitDriverTests {
    static let size: UInt16 = 8
    static let buffer: UInt64 = 0x40000

    /// One malformed offer: it writes descriptors and publishes heads by hand.
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let expected: VirtqueueError
        let indirect: Bool
        let write: @Sendable (SplitQueueDriver) throws -> Void
        var testDescription: String { name }
    }

    static let w = VirtqueueDescriptorFlags.write, n = VirtqueueDescriptorFlags.next, ind = VirtqueueDescriptorFlags.indirect

    static let cases: [Case] = [
        Case(name: "a two-descriptor loop", expected: .chainTooLong(limit: 8), indirect: false) { d in
            try d.writeDescriptor(index: 0, address: buffer, length: 4, flags: n, next: 1)
            try d.writeDescriptor(index: 1, address: buffer, length: 4, flags: n, next: 0)
            try d.makeAvailable(head: 0)
        },
        Case(name: "a descriptor that names itself", expected: .chainTooLong(limit: 8), indirect: false) { d in
            try d.writeDescriptor(index: 3, address: buffer, length: 4, flags: n, next: 3)
            try d.makeAvailable(head: 3)
        },
        Case(name: "a head beyond the table", expected: .headOutOfRange(index: 8, size: 8), indirect: false) { d in
            try d.makeAvailable(head: 8)
        },
        Case(name: "a next beyond the table", expected: .nextOutOfRange(index: 200, tableSize: 8), indirect: false) { d in
            try d.writeDescriptor(index: 0, address: buffer, length: 4, flags: n, next: 200)
            try d.makeAvailable(head: 0)
        },
        Case(name: "an available index that jumps by more than the size",
             expected: .availIndexJump(lastSeen: 0, now: 9, size: 8), indirect: false) { d in
            try d.setAvailIndex(9)
        },
        Case(name: "an available index that goes backwards",
             expected: .availIndexJump(lastSeen: 0, now: 0xFFFF, size: 8), indirect: false) { d in
            try d.setAvailIndex(0xFFFF)
        },
        Case(name: "readable after writable", expected: .readableAfterWritable, indirect: false) { d in
            try d.writeDescriptor(index: 0, address: buffer, length: 4, flags: w | n, next: 1)
            try d.writeDescriptor(index: 1, address: buffer, length: 4, flags: 0, next: 0)
            try d.makeAvailable(head: 0)
        },
        Case(name: "a buffer that overflows the address space",
             expected: .bufferOverflows(address: UInt64.max - 2, length: 4), indirect: false) { d in
            try d.writeDescriptor(index: 0, address: UInt64.max - 2, length: 4, flags: 0, next: 0)
            try d.makeAvailable(head: 0)
        },
        Case(name: "indirect without the feature", expected: .indirectNotNegotiated, indirect: false) { d in
            try d.writeDescriptor(index: 0, address: buffer, length: 16, flags: ind, next: 0)
            try d.makeAvailable(head: 0)
        },
        Case(name: "indirect with next", expected: .indirectWithNext, indirect: true) { d in
            try d.writeDescriptor(index: 0, address: buffer, length: 16, flags: ind | n, next: 1)
            try d.makeAvailable(head: 0)
        },
        Case(name: "an indirect table of length 0", expected: .invalidIndirectLength(0), indirect: true) { d in
            try d.writeDescriptor(index: 0, address: buffer, length: 0, flags: ind, next: 0)
            try d.makeAvailable(head: 0)
        },
        Case(name: "an indirect table of 17 bytes", expected: .invalidIndirectLength(17), indirect: true) { d in
            try d.writeDescriptor(index: 0, address: buffer, length: 17, flags: ind, next: 0)
            try d.makeAvailable(head: 0)
        },
        Case(name: "an indirect table of 4 GiB", expected: .invalidIndirectLength(0xFFFF_FFF0), indirect: true) { d in
            try d.writeDescriptor(index: 0, address: buffer, length: 0xFFFF_FFF0, flags: ind, next: 0)
            try d.makeAvailable(head: 0)
        },
        Case(name: "an indirect table outside RAM",
             expected: .indirectTableNotRAM(.unmapped(address: 1 << 20)), indirect: true) { d in
            try d.writeDescriptor(index: 0, address: 1 << 20, length: 32, flags: ind, next: 0)
            try d.makeAvailable(head: 0)
        },
        Case(name: "an indirect table that loops", expected: .chainTooLong(limit: 2), indirect: true) { d in
            let table = try d.allocate(32)
            try d.memory.write(descriptorBytes([(buffer, 4, n, 1), (buffer, 4, n, 0)]), at: table)
            try d.writeDescriptor(index: 0, address: table, length: 32, flags: ind, next: 0)
            try d.makeAvailable(head: 0)
        },
        Case(name: "a next beyond an indirect table", expected: .nextOutOfRange(index: 2, tableSize: 2), indirect: true) { d in
            let table = try d.allocate(32)
            try d.memory.write(descriptorBytes([(buffer, 4, n, 1), (buffer, 4, n, 2)]), at: table)
            try d.writeDescriptor(index: 0, address: table, length: 32, flags: ind, next: 0)
            try d.makeAvailable(head: 0)
        },
        Case(name: "an indirect table inside an indirect table", expected: .nestedIndirect, indirect: true) { d in
            let table = try d.allocate(16)
            try d.memory.write(descriptorBytes([(table, 16, ind, 0)]), at: table)
            try d.writeDescriptor(index: 0, address: table, length: 16, flags: ind, next: 0)
            try d.makeAvailable(head: 0)
        },
    ]

    @Test(arguments: cases)
    func aMalformedOfferBreaksTheQueueWithAClearError(_ c: Case) throws {
        let f = try QueueFixture(.split, size: Self.size, indirect: c.indirect)
        try c.write(try f.split)
        #expect(throws: c.expected) { try f.queue.pop() }
        #expect(f.queue.failure == c.expected)
        // Broken until reset: a well-formed request later is not taken.
        _ = try? f.driver.submit(DriverRequest(readable: [[1]]))
        #expect(throws: c.expected) { try f.queue.pop() }
        #expect(f.queue.enableNotifications() == false)
        #expect(f.queue.shouldInterrupt() == false)
    }

    @Test func aBufferOutsideRAMFailsOnAccessOnly() throws {
        let f = try QueueFixture(.split)
        let d = try f.split
        try d.writeDescriptor(index: 0, address: 0xFFFF_0000, length: 8, flags: Self.w, next: 0)
        try d.makeAvailable(head: 0)
        let e = try #require(try f.queue.pop())  // the ring is fine; the buffer is the driver's problem
        #expect(throws: ChainAccessError.memory(.unmapped(address: 0xFFFF_0000))) { try e.write([1, 2], to: f.memory) }
        try f.queue.push(e, writtenLength: 0)
    }
}

/// Hostile packed-ring offers.
@Suite("Hostile packed-ring drivers")
struct HostilePackedDriverTests {
    static let buffer: UInt64 = 0x40000
    static let avail = VirtqueueDescriptorFlags.avail  // first lap: AVAIL=1, USED=0
    static let n = VirtqueueDescriptorFlags.next, w = VirtqueueDescriptorFlags.write, ind = VirtqueueDescriptorFlags.indirect

    @Test func aChainThatNeverEndsStopsAtTheRingSize() throws {
        let f = try QueueFixture(.packed, size: 4)
        let d = try f.packed
        for slot in UInt16(0)..<4 {
            try d.writeRingDescriptor(slot: slot, address: Self.buffer, length: 4, id: 0, flags: Self.avail | Self.n)
        }
        #expect(throws: VirtqueueError.chainTooLong(limit: 4)) { try f.queue.pop() }
    }

    @Test func readableAfterWritableIsRefused() throws {
        let f = try QueueFixture(.packed, size: 4)
        let d = try f.packed
        try d.writeRingDescriptor(slot: 1, address: Self.buffer, length: 4, id: 0, flags: Self.avail)
        try d.writeRingDescriptor(slot: 0, address: Self.buffer, length: 4, id: 0, flags: Self.avail | Self.w | Self.n)
        #expect(throws: VirtqueueError.readableAfterWritable) { try f.queue.pop() }
    }

    @Test func indirectWithNextAndIndirectWithoutTheFeature() throws {
        let f = try QueueFixture(.packed, size: 4)
        try f.packed.writeRingDescriptor(slot: 0, address: Self.buffer, length: 16, id: 0, flags: Self.avail | Self.ind | Self.n)
        #expect(throws: VirtqueueError.indirectWithNext) { try f.queue.pop() }
        let g = try QueueFixture(.packed, size: 4, indirect: false)
        try g.packed.writeRingDescriptor(slot: 0, address: Self.buffer, length: 16, id: 0, flags: Self.avail | Self.ind)
        #expect(throws: VirtqueueError.indirectNotNegotiated) { try g.queue.pop() }
    }

    @Test func indirectTablesAreBounded() throws {
        for length: UInt32 in [0, 24, 16 * 1025] {
            let f = try QueueFixture(.packed, size: 4)
            try f.packed.writeRingDescriptor(slot: 0, address: Self.buffer, length: length, id: 0, flags: Self.avail | Self.ind)
            #expect(throws: VirtqueueError.invalidIndirectLength(length)) { try f.queue.pop() }
        }
    }

    /// Only WRITE counts inside a packed indirect table: an INDIRECT flag there is ignored, so no
    /// second table is ever followed.
    @Test func flagsOtherThanWriteInAnIndirectTableAreIgnored() throws {
        let f = try QueueFixture(.packed, size: 4)
        let d = try f.packed
        let table = try d.allocate(32)
        try f.memory.write(descriptorBytes([(Self.buffer, 4, Self.ind | Self.n, 0), (Self.buffer + 8, 8, Self.w | Self.ind, 0)],
                                           packed: true), at: table)
        try d.writeRingDescriptor(slot: 0, address: table, length: 32, id: 3, flags: Self.avail | Self.ind)
        let e = try #require(try f.queue.pop())
        #expect(e.id == 3)
        #expect(e.readable == [GuestBuffer(address: Self.buffer, length: 4)])
        #expect(e.writable == [GuestBuffer(address: Self.buffer + 8, length: 8)])
    }

    @Test func aDescriptorOfTheWrongLapIsNotAvailable() throws {
        let f = try QueueFixture(.packed, size: 4)
        // AVAIL=USED=1 is "used" in the first lap; AVAIL=0,USED=1 belongs to the second lap.
        try f.packed.writeRingDescriptor(slot: 0, address: Self.buffer, length: 4, id: 0,
                                         flags: VirtqueueDescriptorFlags.avail | VirtqueueDescriptorFlags.used)
        #expect(try f.queue.pop() == nil)
        try f.packed.writeRingDescriptor(slot: 0, address: Self.buffer, length: 4, id: 0, flags: VirtqueueDescriptorFlags.used)
        #expect(try f.queue.pop() == nil)
    }
}

/// Configurations a driver can get wrong; the transport refuses them when the queue is enabled.
@Suite("Hostile queue configurations")
struct HostileConfigurationTests {
    static func configuration(_ format: VirtqueueFormat, size: UInt16 = 8, descriptors: UInt64 = 0x1000,
                              driver: UInt64 = 0x2000, device: UInt64 = 0x3000) -> VirtqueueConfiguration {
        VirtqueueConfiguration(format: format, size: size, descriptorArea: descriptors, driverArea: driver, deviceArea: device)
    }

    @Test(arguments: bothFormats)
    func badSizesAreRefused(format: VirtqueueFormat) throws {
        let memory = try FlatGuestMemory(size: 1 << 20)
        var sizes: [UInt16] = [0, 32769, UInt16.max]
        if format == .split { sizes += [3, 100] }
        for size in sizes {
            #expect(throws: VirtqueueError.invalidSize(size)) {
                try makeVirtqueue(Self.configuration(format, size: size), memory: memory)
            }
        }
        if format == .packed { _ = try makeVirtqueue(Self.configuration(.packed, size: 100), memory: memory) }
    }

    @Test(arguments: bothFormats)
    func ringsOutsideRAMOrMisalignedAreRefused(format: VirtqueueFormat) throws {
        let memory = try FlatGuestMemory(size: 1 << 20)
        #expect(throws: VirtqueueError.misaligned(.descriptors, address: 0x1008, alignment: 16)) {
            try makeVirtqueue(Self.configuration(format, descriptors: 0x1008), memory: memory)
        }
        #expect(throws: VirtqueueError.misaligned(.deviceArea, address: 0x3002, alignment: 4)) {
            try makeVirtqueue(Self.configuration(format, device: 0x3002), memory: memory)
        }
        #expect(throws: VirtqueueError.areaNotRAM(.driverArea, .unmapped(address: 1 << 20))) {
            try makeVirtqueue(Self.configuration(format, driver: 1 << 20), memory: memory)
        }
        // A descriptor area that starts in RAM and runs past its end.
        let tail = (1 << 20) - 0x40
        #expect(throws: VirtqueueError.areaNotRAM(.descriptors, .unmapped(address: 1 << 20))) {
            try makeVirtqueue(Self.configuration(format, descriptors: UInt64(tail)), memory: memory)
        }
        #expect(throws: VirtqueueError.areaNotRAM(.descriptors, .overflow(address: UInt64.max - 15, length: 128))) {
            try makeVirtqueue(Self.configuration(format, descriptors: UInt64.max - 15), memory: memory)
        }
    }

    @Test func aRingAcrossTwoRAMBlocksIsRefused() throws {
        let a = try RAMBlock(name: "a", size: 0x10000), b = try RAMBlock(name: "b", size: 0x10000)
        let memory = try FlatGuestMemory([.init(address: 0, block: a), .init(address: 0x10000, block: b)])
        #expect(throws: VirtqueueError.areaNotContiguous(.descriptors, address: 0xFFC0)) {
            try makeVirtqueue(Self.configuration(.split, descriptors: 0xFFC0), memory: memory)  // 128 bytes across
        }
    }
}

/// Raw descriptor bytes: `(address, length, flags, next)` for split, `(address, length, flags, id)`
/// for packed.
func descriptorBytes(_ entries: [(UInt64, UInt32, UInt16, UInt16)], packed: Bool = false) -> [UInt8] {
    var bytes: [UInt8] = []
    for (address, length, flags, other) in entries {
        withUnsafeBytes(of: address.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: length.littleEndian) { bytes += $0 }
        let (a, b) = packed ? (other, flags) : (flags, other)
        withUnsafeBytes(of: a.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: b.littleEndian) { bytes += $0 }
    }
    return bytes
}
