import EmuCore
import EmuTCG
import Testing

/// What system-mode CPUID advertises is consistent with what the CPU implements.
@Suite struct SystemCPUIDTests {
    static let timeBase = TimestampCounterBase(clock: VirtualClock(), frequency: 2_100_000_000)

    func bit(_ value: UInt32, _ n: UInt32) -> Bool { value & (1 << n) != 0 }

    @Test func vendorAndLeafRanges() throws {
        let cpuid = try SystemCPUID(timestampCounter: Self.timeBase)
        let zero = cpuid.query(leaf: 0, subleaf: 0)
        #expect(zero.eax >= 0x16)
        let vendor = [zero.ebx, zero.edx, zero.ecx].flatMap { w in (0..<4).map { UInt8(truncatingIfNeeded: w >> (8 * $0)) } }
        #expect(String(decoding: vendor, as: UTF8.self) == "GenuineIntel")
        #expect(cpuid.query(leaf: 0x8000_0000, subleaf: 0).eax == 0x8000_0008)
        // Above the highest leaves: the highest basic leaf's values, as Intel CPUs do.
        let top = cpuid.query(leaf: 0x16, subleaf: 0)
        #expect(cpuid.query(leaf: 0x17, subleaf: 0) == top)
        #expect(cpuid.query(leaf: 0x8000_0009, subleaf: 0) == top)
        #expect(cpuid.query(leaf: 0x4000_0000, subleaf: 0) == (0, 0, 0, 0))
    }

    // The walker's MAXPHYADDR and linear width are what leaf 0x80000008 reports.
    @Test func addressWidthsMatchTheWalker() throws {
        let features = SystemFeatures()
        let cpuid = try SystemCPUID(timestampCounter: Self.timeBase, features: features)
        let widths = cpuid.query(leaf: 0x8000_0008, subleaf: 0).eax
        #expect(Int(widths & 0xFF) == features.physicalAddressBits)
        #expect(Int((widths >> 8) & 0xFF) == 48)
        // And the walker refuses exactly bit MAXPHYADDR in an entry.
        let m = try SystemTestMachine()
        m.map(0x1000_0000, to: 0x30_0000 | 1 << UInt64(widths & 0xFF), flags: SystemTestMachine.present)
        m.enterLongMode()
        #expect(caught { try m.mmu.read(0x1000_0000, size: 1, .read) } == .pf(0x1000_0000, 9))
        // No LA57: CR4.LA57 is refused.
        #expect(!bit(cpuid.query(leaf: 7, subleaf: 0).ecx, 16))
        #expect(caught { try m.state.writeCR4(m.state.cr4 | CR4.la57) } == .generalProtection(0))
    }

    @Test func leafOneHasTheSystemFeaturesAndKeepsUserMode() throws {
        let cpuid = try SystemCPUID(timestampCounter: Self.timeBase)
        let one = cpuid.query(leaf: 1, subleaf: 0, apicEnabled: true, apicID: 3)
        #expect(one.edx & CPUID.featuresEDX == CPUID.featuresEDX)
        #expect(one.ecx & CPUID.featuresECX == CPUID.featuresECX)
        for n: UInt32 in [3, 4, 5, 6, 8, 9, 11, 12, 13, 16, 24, 25, 26] { #expect(bit(one.edx, n), "EDX bit \(n)") }
        #expect(bit(one.ecx, 24))  // TSC-deadline
        #expect(bit(one.ecx, 31))  // hypervisor
        for n: UInt32 in [26, 27, 30, 21, 17, 3] { #expect(!bit(one.ecx, n), "ECX bit \(n)") }  // XSAVE, OSXSAVE, RDRAND, x2APIC, PCID, MONITOR
        for n: UInt32 in [7, 14, 17] { #expect(!bit(one.edx, n), "EDX bit \(n)") }  // MCE, MCA, PSE-36
        #expect(one.ebx >> 24 == 3)
        #expect(!bit(cpuid.query(leaf: 1, subleaf: 0, apicEnabled: false).edx, 9))
        #expect(bit(cpuid.query(leaf: 6, subleaf: 0).eax, 2))  // ARAT
        #expect(bit(cpuid.query(leaf: 7, subleaf: 0).edx, 29))  // ARCH_CAPABILITIES
        #expect(cpuid.query(leaf: 7, subleaf: 0).ebx == 0)  // no SMEP, SMAP, FSGSBASE, ERMS…
        #expect(bit(cpuid.query(leaf: 0x8000_0007, subleaf: 0).edx, 8))  // invariant TSC
        let ext = cpuid.query(leaf: 0x8000_0001, subleaf: 0)
        for n: UInt32 in [11, 20, 26, 27, 29] { #expect(bit(ext.edx, n), "0x80000001 EDX bit \(n)") }
    }

    // Leaves 0x15/0x16 give back the time base's frequency exactly.
    @Test func timestampCounterFrequencies() throws {
        for (tsc, crystal) in [(UInt64(2_100_000_000), UInt64?.none), (2_100_000_000, 25_000_000), (1_000_000_007, 19_200_000)] {
            let base = TimestampCounterBase(clock: VirtualClock(), frequency: tsc)
            let cpuid = try SystemCPUID(timestampCounter: base, crystalFrequency: crystal)
            let leaf = cpuid.query(leaf: 0x15, subleaf: 0)
            #expect(leaf.eax != 0 && leaf.ebx != 0)
            #expect(UInt64(leaf.ecx) * UInt64(leaf.ebx) / UInt64(leaf.eax) == tsc)
            #expect(UInt64(leaf.ecx) == crystal ?? tsc)
            #expect(UInt64(cpuid.query(leaf: 0x16, subleaf: 0).eax) == tsc / 1_000_000)
        }
        #expect(throws: SystemCPUID.ConfigurationError.self) {
            try SystemCPUID(timestampCounter: Self.timeBase, crystalFrequency: 0)
        }
        #expect(throws: SystemCPUID.ConfigurationError.self) {
            try SystemCPUID(timestampCounter: Self.timeBase, crystalFrequency: 1 << 33)
        }
    }

    // 1 GiB pages are advertised only when the walker takes them.
    @Test func gigabytePagesAdvertisedAndWorking() throws {
        let cpuid = try SystemCPUID(timestampCounter: Self.timeBase)
        #expect(bit(cpuid.query(leaf: 0x8000_0001, subleaf: 0).edx, 26) == SystemFeatures().gigabytePages)
        let m = try SystemTestMachine()
        m.map(0x4000_0000, to: 0, size: 1 << 30, flags: SystemTestMachine.present)
        m.enterLongMode()
        #expect(try m.mmu.translate(0x4000_1234, .read).physicalAddress == 0x1234)
    }

    @Test func brandString() throws {
        let cpuid = try SystemCPUID(timestampCounter: Self.timeBase)
        var bytes: [UInt8] = []
        for leaf: UInt32 in 0x8000_0002...0x8000_0004 {
            let r = cpuid.query(leaf: leaf, subleaf: 0)
            for w in [r.eax, r.ebx, r.ecx, r.edx] { bytes += (0..<4).map { UInt8(truncatingIfNeeded: w >> (8 * $0)) } }
        }
        #expect(String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self) == SystemCPUID.brand)
    }
}
