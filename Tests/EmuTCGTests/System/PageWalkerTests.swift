import EmuCore
import EmuTCG
import Testing

/// The page walk: every permission case with its exact error code (Intel SDM Vol. 3A §4.6,
/// §4.7), A/D bits (§4.8), large pages, reserved bits (§4.5), canonical addresses, and hostile
/// page tables.
@Suite struct PageWalkerTests {
    typealias M = SystemTestMachine
    static let page: UInt64 = 0x40_0000_0000  // a linear address whose tables are all fresh
    static let frame: UInt64 = 0x30_0000
    static let pml4Index = (page >> 39) & 0x1FF

    /// A machine in 64-bit mode with `flags` on the leaf mapping `page` → `frame`.
    func machine(flags: UInt64, upper: UInt64 = M.allUpper, nxe: Bool = true, user: Bool = false) throws -> M {
        let m = try M()
        m.map(Self.page, to: Self.frame, flags: flags, upper: upper)
        m.enterLongMode(nxe: nxe)
        if user { m.dropToUser() }
        return m
    }

    @Test func translatesA4KiBPageAndOffset() throws {
        let m = try machine(flags: M.present | M.writable)
        let t = try m.mmu.translate(Self.page + 0x123, .read)
        #expect(t.physicalAddress == Self.frame + 0x123)
        #expect(t.pageSize == 4096)
        #expect(t.writable)
        #expect(!t.user)
    }

    // SDM §4.7: P = 0 for a non-present page; W/R, U/S, I/D describe the access.
    @Test func notPresentErrorCodes() throws {
        let m = try machine(flags: 0)
        #expect(caught { try m.mmu.read(Self.page, size: 4, .read) } == .pf(Self.page, 0))
        #expect(caught { try m.mmu.write(Self.page + 8, size: 8, value: 1, .write) } == .pf(Self.page + 8, 2))
        #expect(caught { try m.mmu.fetch(Self.page, size: 1) } == .pf(Self.page, 0x10))
        m.dropToUser()
        #expect(caught { try m.mmu.read(Self.page, size: 1, .read) } == .pf(Self.page, 4))
        #expect(caught { try m.mmu.write(Self.page, size: 1, value: 0, .write) } == .pf(Self.page, 6))
        #expect(caught { try m.mmu.fetch(Self.page, size: 1) } == .pf(Self.page, 0x14))
        // An implicit supervisor access at CPL 3 reports U/S = 0.
        #expect(caught { try m.mmu.read(Self.page, size: 8, .systemRead) } == .pf(Self.page, 0))
    }

    // SDM §4.6.1: user-mode accesses need U/S = 1 at every level.
    @Test func userAccessToSupervisorPage() throws {
        let m = try machine(flags: M.present | M.writable, user: true)
        #expect(caught { try m.mmu.read(Self.page, size: 8, .read) } == .pf(Self.page, 5))
        #expect(caught { try m.mmu.write(Self.page, size: 8, value: 0, .write) } == .pf(Self.page, 7))
        #expect(caught { try m.mmu.fetch(Self.page, size: 1) } == .pf(Self.page, 0x15))
        // U/S clear at an upper level only.
        let n = try machine(flags: M.present | M.writable | M.user, upper: M.present | M.writable, user: true)
        #expect(caught { try n.mmu.read(Self.page, size: 8, .read) } == .pf(Self.page, 5))
    }

    // SDM §4.6.1: user writes need R/W = 1 at every level; supervisor writes too when CR0.WP = 1.
    @Test func writeToReadOnlyPage() throws {
        let m = try machine(flags: M.present | M.user, user: true)
        #expect(try m.mmu.read(Self.page, size: 8, .read) == 0)
        #expect(caught { try m.mmu.write(Self.page, size: 8, value: 0, .write) } == .pf(Self.page, 7))
        let k = try machine(flags: M.present)
        #expect(caught { try k.mmu.write(Self.page, size: 4, value: 0, .write) } == .pf(Self.page, 3))
        // CR0.WP = 0: supervisor writes ignore R/W.
        try k.state.writeCR0(k.state.cr0 & ~CR0.wp)
        try k.mmu.write(Self.page, size: 4, value: 0xDEAD_BEEF, .write)
        #expect(k.peek(Self.frame, size: 4) == 0xDEAD_BEEF)
        // R/W clear at an upper level only.
        let u = try machine(flags: M.present | M.writable | M.user, upper: M.present | M.user, user: true)
        #expect(caught { try u.mmu.write(Self.page, size: 1, value: 0, .write) } == .pf(Self.page, 7))
    }

    // SDM §4.6.1 and §4.7: XD with EFER.NXE forbids fetches (I/D set); without NXE bit 63 is reserved.
    @Test func executeDisable() throws {
        let m = try machine(flags: M.present | M.writable | M.noExecute)
        #expect(try m.mmu.read(Self.page, size: 8, .read) == 0)
        #expect(caught { try m.mmu.fetch(Self.page, size: 1) } == .pf(Self.page, 0x11))
        let r = try machine(flags: M.present | M.writable | M.noExecute, nxe: false)
        #expect(caught { try r.mmu.read(Self.page, size: 8, .read) } == .pf(Self.page, 0x9))
        // Without NXE, I/D is never reported.
        #expect(caught { try r.mmu.fetch(Self.page, size: 1) } == .pf(Self.page, 0x9))
    }

    // SDM §4.5, Table 4-15…4-20: bits 51:MAXPHYADDR, PS in a PML4E, 29:13 of a 1 GiB PDPTE and
    // 20:13 of a 2 MiB PDE are reserved: P and RSVD set in the error code.
    @Test func reservedBits() throws {
        let maxPhysical = UInt64(SystemFeatures().physicalAddressBits)
        let m = try machine(flags: M.present | M.writable | 1 << maxPhysical)
        #expect(caught { try m.mmu.read(Self.page, size: 8, .read) } == .pf(Self.page, 0x9))
        #expect(caught { try m.mmu.write(Self.page, size: 8, value: 0, .write) } == .pf(Self.page, 0xB))
        let below = try machine(flags: M.present | M.writable | 1 << (maxPhysical - 1))
        #expect(caught { try below.mmu.read(Self.page, size: 8, .read) } == nil)

        let pml4PS = try machine(flags: M.present)
        pml4PS.poke(pml4PS.entryAddresses(Self.page)[0], pml4PS.peek(pml4PS.entryAddresses(Self.page)[0]) | M.pageSize)
        pml4PS.state.tlb.flushAll()
        #expect(caught { try pml4PS.mmu.read(Self.page, size: 1, .read) } == .pf(Self.page, 0x9))

        let huge = try M()
        huge.map(Self.page, to: 0x4000_0000 | 1 << 13, size: 1 << 30, flags: M.present)
        huge.enterLongMode()
        #expect(caught { try huge.mmu.read(Self.page, size: 1, .read) } == .pf(Self.page, 0x9))

        let large = try M()
        large.map(Self.page, to: 0x20_0000 | 1 << 20, size: 1 << 21, flags: M.present)
        large.enterLongMode()
        #expect(caught { try large.mmu.read(Self.page, size: 1, .read) } == .pf(Self.page, 0x9))
    }

    @Test func largePages() throws {
        let m = try M()
        m.map(Self.page, to: 0x4000_0000, size: 1 << 30, flags: M.present | M.writable | 1 << 12)
        m.map(0x7F00_0020_0000, to: 0x20_0000, size: 1 << 21, flags: M.present | M.writable)
        m.enterLongMode()
        let giant = try m.mmu.translate(Self.page + 0x1234_5678, .read)
        #expect(giant.physicalAddress == 0x4000_0000 + 0x1234_5678)
        #expect(giant.pageSize == 1 << 30)
        #expect(giant.memoryTypeIndex == 4)  // PAT bit 12 of a large page
        let big = try m.mmu.translate(0x7F00_0020_0000 + 0x1_2345, .read)
        #expect(big.physicalAddress == 0x20_0000 + 0x1_2345)
        #expect(big.pageSize == 1 << 21)
        // Reading through the 2 MiB mapping reaches RAM.
        m.poke(0x20_0000 + 0x1_2345, 0x1122_3344, size: 4)
        #expect(try m.mmu.read(0x7F00_0020_0000 + 0x1_2345, size: 4, .read) == 0x1122_3344)
    }

    // SDM §4.8: a read sets A in every entry used; a write also sets D in the leaf only.
    @Test func accessedAndDirtyBits() throws {
        let m = try machine(flags: M.present | M.writable)
        let entries = m.entryAddresses(Self.page)
        #expect(entries.count == 4)
        #expect(entries.allSatisfy { m.peek($0) & M.accessed == 0 })
        _ = try m.mmu.read(Self.page, size: 8, .read)
        #expect(entries.allSatisfy { m.peek($0) & M.accessed != 0 })
        #expect(entries.allSatisfy { m.peek($0) & M.dirty == 0 })
        try m.mmu.write(Self.page, size: 8, value: 7, .write)
        #expect(m.peek(entries[3]) & M.dirty != 0)
        #expect(entries[0..<3].allSatisfy { m.peek($0) & M.dirty == 0 })
        // Large-page leaves get D too.
        let l = try M()
        l.map(Self.page, to: 0x20_0000, size: 1 << 21, flags: M.present | M.writable)
        l.enterLongMode()
        try l.mmu.write(Self.page, size: 1, value: 1, .write)
        #expect(l.peek(l.entryAddresses(Self.page)[2]) & (M.accessed | M.dirty) == M.accessed | M.dirty)
    }

    // A TLB entry filled by a read must not let a later write skip setting D.
    @Test func writeAfterReadSetsDirty() throws {
        let m = try machine(flags: M.present | M.writable)
        _ = try m.mmu.read(Self.page, size: 8, .read)
        let leaf = m.entryAddresses(Self.page)[3]
        #expect(m.peek(leaf) & M.dirty == 0)
        try m.mmu.write(Self.page, size: 8, value: 1, .write)
        #expect(m.peek(leaf) & M.dirty != 0)
    }

    // SDM Vol. 1 §3.3.7.1: non-canonical addresses give #GP(0), or #SS(0) through SS.
    @Test func nonCanonicalAddresses() throws {
        let m = try machine(flags: M.present)
        let bad: UInt64 = 0x0000_8000_0000_0000
        #expect(caught { try m.mmu.read(bad, size: 1, .read) } == .generalProtection(0))
        #expect(caught { try m.mmu.write(bad, size: 1, value: 0, .stackWrite) } == .stackFault(0))
        // The last byte non-canonical.
        #expect(caught { try m.mmu.read(0x0000_7FFF_FFFF_FFFC, size: 8, .read) } == .generalProtection(0))
    }

    @Test func globalPagesOnlyWithPGE() throws {
        let m = try machine(flags: M.present | M.global)
        #expect(try !m.mmu.translate(Self.page, .read).global)
        try m.state.writeCR4(m.state.cr4 | CR4.pge)
        #expect(try m.mmu.translate(Self.page, .read).global)
    }

    @Test func pagingOffIsIdentity() throws {
        let m = try M()
        m.state.enterProtectedMode()
        m.poke(0x1000, 0xCAFE, size: 2)
        #expect(try m.mmu.read(0x1000, size: 2, .read) == 0xCAFE)
        let t = try m.mmu.translate(0x1_0000_1000, .write)
        #expect(t.physicalAddress == 0x1000)  // 32-bit linear addresses
    }

    // SDM §4.3: 32-bit paging with a 4 MiB page (CR4.PSE) and a 4 KiB page.
    @Test func thirtyTwoBitPaging() throws {
        let m = try M()
        m.state.enterProtectedMode()
        let pd: UInt64 = 0x10_0000 + 0x8000
        let pt: UInt64 = pd + 0x1000
        m.poke(pd + 1 * 4, 0x0040_0000 | 0x83, size: 4)  // 4 MiB page at 4 MiB linear → 4 MiB physical
        m.poke(pd + 2 * 4, pt | 0x7, size: 4)
        m.poke(pt + 3 * 4, 0x3000 | 0x5, size: 4)  // user, read-only
        try m.state.writeCR3(pd)
        try m.state.writeCR4(CR4.pse)
        try m.state.writeCR0(m.state.cr0 | CR0.pg | CR0.wp)
        #expect(try m.mmu.translate(0x0040_1234, .read).physicalAddress == 0x0040_1234)
        #expect(try m.mmu.translate(0x0080_3010, .read).physicalAddress == 0x3010)
        #expect(caught { try m.mmu.write(0x0080_3010, size: 4, value: 0, .write) } == .pf(0x0080_3010, 3))
        #expect(caught { try m.mmu.read(0x00C0_0000, size: 4, .read) } == .pf(0x00C0_0000, 0))
    }

    // SDM §4.4: PAE paging, with NX.
    @Test func paePaging() throws {
        let m = try M()
        m.state.enterProtectedMode()
        let pdpt: UInt64 = 0x10_8000
        let pd: UInt64 = 0x10_9000
        let pt: UInt64 = 0x10_A000
        m.space.writeBytes([UInt8](repeating: 0, count: 0x3000), at: pdpt)
        m.poke(pdpt + 0, pd | 1)
        m.poke(pd + 0, pt | 7)
        m.poke(pt + 5 * 8, 0x5000 | 3 | M.noExecute)
        try m.state.writeCR3(pdpt)
        try m.state.writeCR4(CR4.pae)
        try m.state.writeMSR(MSRIndex.efer, EFER.nxe)
        try m.state.writeCR0(m.state.cr0 | CR0.pg)
        #expect(!m.state.isLongModeActive)
        #expect(try m.mmu.translate(0x5008, .read).physicalAddress == 0x5008)
        #expect(caught { try m.mmu.fetch(0x5008, size: 1) } == .pf(0x5008, 0x11))
        // A PDPTE with a reserved bit.
        m.poke(pdpt + 8, pd | 1 | 1 << 5)
        #expect(caught { try m.mmu.read(0x4000_0000, size: 1, .read) } == .pf(0x4000_0000, 0x9))
    }

    // Hostile tables: entries pointing outside RAM read all ones (reserved bits set), tables at
    // MMIO read the device's pattern, a table that maps itself terminates.
    @Test func hostilePageTables() throws {
        let outside = try M()
        outside.poke(outside.pml4 + Self.pml4Index * 8, 0x7F_0000_0000 | M.allUpper)  // a PDPT beyond RAM
        outside.enterLongMode()
        #expect(caught { try outside.mmu.read(Self.page, size: 1, .read) } == .pf(Self.page, 0x9))

        let device = try M()
        device.poke(device.pml4 + Self.pml4Index * 8, M.mmioBase | M.allUpper)
        device.enterLongMode()
        let reads = device.deviceLog.reads.withLock { $0 }
        // 0xA5… has P set and reserved bits 51:40 set.
        #expect(caught { try device.mmu.read(Self.page, size: 1, .read) } == .pf(Self.page, 0x9))
        #expect(device.deviceLog.reads.withLock { $0 } > reads)

        let loop = try M()
        loop.poke(loop.pml4, loop.pml4 | M.allUpper)  // PML4[0] → PML4: every level is the PML4
        loop.enterLongMode()
        let t = try loop.mmu.translate(0x10, .read)
        #expect(t.physicalAddress == loop.pml4 + 0x10)
        #expect(try loop.mmu.read(0x0, size: 8, .read) & ~(M.accessed | M.dirty) == loop.pml4 | M.allUpper)

        let rom = try M()
        rom.poke(rom.pml4 + Self.pml4Index * 8, M.romBase | M.allUpper)  // 0x5A5A… : P clear → not present
        rom.enterLongMode()
        #expect(caught { try rom.mmu.read(Self.page, size: 1, .read) } == .pf(Self.page, 0))
    }

    @Test func crossPageAccessChecksBothPagesFirst() throws {
        let m = try machine(flags: M.present | M.writable)
        // The next page is not mapped: an 8-byte write across the boundary faults at the second
        // page and leaves the first untouched.
        let address = Self.page + 0xFFC
        m.poke(Self.frame + 0xFF8, 0x1111_1111_1111_1111)
        #expect(caught { try m.mmu.write(address, size: 8, value: .max, .write) } == .pf(Self.page + 0x1000, 2))
        #expect(m.peek(Self.frame + 0xFF8) == 0x1111_1111_1111_1111)
        m.map(Self.page + 0x1000, to: 0x31_0000, flags: M.present | M.writable)
        try m.mmu.write(address, size: 8, value: 0x8877_6655_4433_2211, .write)
        #expect(try m.mmu.read(address, size: 8, .read) == 0x8877_6655_4433_2211)
        #expect(m.peek(Self.frame + 0xFFC, size: 4) == 0x4433_2211)
        #expect(m.peek(0x31_0000, size: 4) == 0x8877_6655)
    }
}
