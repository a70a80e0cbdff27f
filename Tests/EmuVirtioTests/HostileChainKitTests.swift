import EmuCore
import EmuVirtio
import EmuVirtioEntropy
import EmuVirtioTesting
import Testing

/// The test kit's hostile chains against a real device: virtio-rng over virtio-mmio, driven only
/// through `any VirtqueueDriver` (no cast to a ring format, no ring offsets worked out by hand).
/// Each hostile chain follows a well-formed one in the same kick: the device fills the first,
/// refuses the second with the queue's error, and asks for a reset.
@Suite("Hostile chains against virtio-rng, through the test kit")
struct HostileChainKitTests {
    static let queueSize: UInt16 = 16

    struct Machine {
        let memory: FlatGuestMemory
        let transport: VirtioMMIOTransport
        let driver: VirtioMMIODriver
        var queue: any VirtqueueDriver { driver.queues[0] }

        init(_ format: VirtqueueFormat, indirect: Bool = true) throws {
            memory = try FlatGuestMemory(size: 4 << 20)
            transport = VirtioMMIOTransport(device: VirtioEntropyDevice(queueSize: HostileChainKitTests.queueSize),
                                            memory: memory, interrupt: IRQLine(unconnected: "irq"))
            driver = VirtioMMIODriver(device: transport)
            var features: VirtioFeatures = format == .packed ? .ringPacked : []
            if indirect { features.insert(.indirectDescriptors) }
            try driver.initialize(features: features, queueSizes: [HostileChainKitTests.queueSize], memory: memory,
                                  ringArea: 0x10000..<0x400000)
        }
    }

    /// One hostile offer and the queue error the device must report for it.
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let chain: [RawDescriptor]
        let expected: VirtqueueError
        var testDescription: String { name }
    }

    static let write = VirtqueueDescriptorFlags.write, indirectFlag = VirtqueueDescriptorFlags.indirect
    /// An address beyond the machine's 4 MiB of RAM.
    static let outsideRAM: UInt64 = 1 << 40

    /// Shapes both ring formats refuse.
    static let commonCases: [Case] = [
        Case(name: "readable after writable", chain: [.writable(8), .readable([1])], expected: .readableAfterWritable),
        Case(name: "a buffer that overflows the address space",
             chain: [RawDescriptor(address: UInt64.max - 2, length: 4, flags: write)],
             expected: .bufferOverflows(address: UInt64.max - 2, length: 4)),
        Case(name: "an indirect descriptor with NEXT", chain: [.indirect([.writable(8)]), .writable(8)],
             expected: .indirectWithNext),
        Case(name: "an indirect table of 17 bytes", chain: [.indirect([.writable(8)]).withLength(17)],
             expected: .invalidIndirectLength(17)),
        Case(name: "an empty indirect table", chain: [.indirect([])], expected: .invalidIndirectLength(0)),
        Case(name: "an indirect table outside RAM", chain: [RawDescriptor(address: outsideRAM, length: 32, flags: indirectFlag)],
             expected: .indirectTableNotRAM(.unmapped(address: outsideRAM))),
    ]

    /// Shapes only a split ring can hold (links by index).
    static let splitCases: [Case] = commonCases + [
        Case(name: "a two-descriptor loop", chain: [.writable(8), .writable(8).linked(.position(0))],
             expected: .chainTooLong(limit: Int(queueSize))),
        Case(name: "a descriptor that names itself", chain: [.writable(8).linked(.position(0))],
             expected: .chainTooLong(limit: Int(queueSize))),
        Case(name: "a next beyond the table", chain: [.writable(8).linked(.index(200))],
             expected: .nextOutOfRange(index: 200, tableSize: Int(queueSize))),
        Case(name: "an indirect table inside an indirect table", chain: [.indirect([.indirect([.writable(8)])])],
             expected: .nestedIndirect),
        Case(name: "a loop inside an indirect table", chain: [.indirect([.writable(8), .writable(8).linked(.position(0))])],
             expected: .chainTooLong(limit: 2)),
        Case(name: "a next beyond an indirect table", chain: [.indirect([.writable(8).linked(.index(1))])],
             expected: .nextOutOfRange(index: 1, tableSize: 1)),
        Case(name: "readable after writable inside an indirect table", chain: [.indirect([.writable(8), .readable([1])])],
             expected: .readableAfterWritable),
    ]

    /// Offers a good chain, then `hostile`, kicks once, and checks the device's answer: the good
    /// chain filled with random bytes, nothing used for the hostile one, the queue's error
    /// reported as the reason for DEVICE_NEEDS_RESET.
    func check(_ format: VirtqueueFormat, _ hostile: (any VirtqueueDriver) throws -> UInt16?, expected: VirtqueueError) throws {
        let m = try Machine(format)
        let good = try m.queue.offer([.writable(16), .writable(48)])
        let bad = try hostile(m.queue)
        m.driver.kick(0)
        let used = try m.queue.takeUsed()
        #expect(used.count == 1)
        #expect(used.first?.id == UInt32(good) && used.first?.length == 64 && used.first?.wasOutstanding == true)
        #expect(used.first?.written?.count == 64 && used.first?.written?.contains { $0 != 0 } == true)
        #expect(bad.map { $0 != good } ?? true)
        #expect(m.queue.outstanding == (bad == nil ? 0 : 1))
        #expect(m.driver.status.contains(.deviceNeedsReset))
        #expect(m.transport.core.lastError == "virtio-rng queue: \(expected)")
        // Broken until reset: a well-formed chain offered now is left alone.
        _ = try m.queue.offer([.writable(8)])
        m.driver.kick(0)
        #expect(try m.queue.takeUsed().isEmpty)
    }

    @Test(arguments: splitCases)
    func aSplitRingRefuses(_ c: Case) throws {
        try check(.split, { try $0.offer(c.chain) }, expected: c.expected)
    }

    @Test(arguments: commonCases)
    func aPackedRingRefuses(_ c: Case) throws {
        try check(.packed, { try $0.offer(c.chain) }, expected: c.expected)
    }

    @Test func aHeadBeyondTheTableIsRefused() throws {
        try check(.split, { q in
            try q.offerHead(Self.queueSize)
            return nil
        }, expected: .headOutOfRange(index: Self.queueSize, size: Self.queueSize))
    }

    @Test func aPackedRingHasNoHeadToPublish() throws {
        let m = try Machine(.packed)
        #expect(throws: VirtqueueDriverError.invalidChain("a packed ring has no head index to publish")) { try m.queue.offerHead(0) }
    }

    @Test(arguments: [VirtqueueFormat.split, .packed])
    func wellFormedRawChainsAreFilledLikeSubmittedOnes(format: VirtqueueFormat) throws {
        let m = try Machine(format)
        let direct = try m.queue.offer([.readable([1, 2, 3]), .writable(5), .writable(11)])
        let indirect = try m.queue.offer([.indirect([.writable(4), .writable(28)])])
        let submitted = try m.queue.submit(DriverRequest(writableLengths: [8]))
        m.driver.kick(0)
        let used = try m.queue.takeUsed()
        #expect(used.map(\.id) == [direct, indirect, submitted].map(UInt32.init))
        #expect(used.map(\.length) == [16, 32, 8])
        #expect(used.allSatisfy { $0.wasOutstanding && $0.written?.count == Int($0.length) })
        #expect(m.queue.outstanding == 0)
        #expect(!m.driver.status.contains(.deviceNeedsReset))
        // The driver took them back: their entries and data are offered again.
        for _ in 0..<3 {
            _ = try m.queue.offer([.writable(Int(Self.queueSize))])
        }
        m.driver.kick(0)
        #expect(try m.queue.takeCompletions().map(\.writtenLength) == [16, 16, 16])
    }

    @Test func aBufferOutsideRAMIsUsedWithLengthZero() throws {
        // Not a ring error: the device cannot write there and returns the chain empty.
        for format in [VirtqueueFormat.split, .packed] {
            let m = try Machine(format)
            let id = try m.queue.offer([RawDescriptor(address: Self.outsideRAM, length: 8, flags: Self.write)])
            m.driver.kick(0)
            #expect(try m.queue.takeUsed() == [UsedRingEntry(id: UInt32(id), length: 0, wasOutstanding: true, written: [])])
            #expect(!m.driver.status.contains(.deviceNeedsReset))
        }
    }

    @Test func aLinkByPositionIsRefusedForAPackedRing() throws {
        let m = try Machine(.packed)
        #expect(throws: VirtqueueDriverError.self) { try m.queue.offer([.writable(8).linked(.position(0))]) }
        #expect(throws: VirtqueueDriverError.invalidChain("a link to position 3 of a run of 1 descriptors")) {
            try Machine(.split).queue.offer([.writable(8).linked(.position(3))])
        }
        // Nothing was left behind: the whole ring is still free.
        #expect(m.queue.outstanding == 0)
        for _ in 0..<Self.queueSize { _ = try m.queue.offer([.writable(1)]) }
    }
}
