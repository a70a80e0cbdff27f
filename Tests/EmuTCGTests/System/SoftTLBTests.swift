import EmuCore
import EmuTCG
import Synchronization
import Testing

/// The soft TLB: fast-path hits, flush semantics of INVLPG and CR3 with and without CR4.PGE
/// (Intel SDM Vol. 3A §4.10.4.1), memory-map changes, MMIO and ROM on the slow path, and
/// code-page protection for CPU stores and DMA.
@Suite struct SoftTLBTests {
    typealias M = SystemTestMachine
    static let linear: UInt64 = 0x7000_0000_0000
    static let frame: UInt64 = 0x30_0000

    func machine(pge: Bool = false, global: Bool = false) throws -> M {
        let m = try M()
        m.map(Self.linear, to: Self.frame, flags: M.present | M.writable | (global ? M.global : 0))
        m.enterLongMode(pge: pge)
        return m
    }

    @Test func fillThenFastPathHit() throws {
        let m = try machine()
        #expect(m.state.tlb.hostAddress(Self.linear, size: 8, kind: .read, user: false) == nil)
        m.poke(Self.frame + 16, 42)
        #expect(try m.mmu.read(Self.linear + 16, size: 8, .read) == 42)
        let host = m.state.tlb.hostAddress(Self.linear + 16, size: 8, kind: .read, user: false)
        #expect(host != nil)
        #expect(host?.loadUnaligned(as: UInt64.self) == 42)
        // Read-filled: no write fast path until a write walk set D.
        #expect(m.state.tlb.hostAddress(Self.linear, size: 8, kind: .write, user: false) == nil)
        try m.mmu.write(Self.linear, size: 8, value: 1, .write)
        #expect(m.state.tlb.hostAddress(Self.linear, size: 8, kind: .write, user: false) != nil)
        // The user view is separate.
        #expect(m.state.tlb.hostAddress(Self.linear, size: 8, kind: .read, user: true) == nil)
        // An access crossing the page never takes the fast path.
        #expect(m.state.tlb.hostAddress(Self.linear + 0xFFC, size: 8, kind: .read, user: false) == nil)
    }

    @Test func invlpgDropsTheEntry() throws {
        let m = try machine()
        _ = try m.mmu.read(Self.linear, size: 8, .read)
        m.editLeaf(Self.linear, clear: M.present)
        // Until INVLPG the TLB may keep the translation (SDM §4.10.4.3): ours does.
        #expect(try m.mmu.read(Self.linear, size: 8, .read) == 0)
        m.mmu.invalidatePage(Self.linear + 0x800)
        #expect(caught { try m.mmu.read(Self.linear, size: 8, .read) } == .pf(Self.linear, 0))
    }

    @Test func invlpgDropsEveryPieceOfALargePage() throws {
        let m = try M()
        m.map(Self.linear, to: 0x20_0000, size: 1 << 21, flags: M.present | M.writable)
        m.enterLongMode()
        _ = try m.mmu.read(Self.linear, size: 8, .read)
        _ = try m.mmu.read(Self.linear + 0x5_0000, size: 8, .read)
        m.editLeaf(Self.linear, clear: M.present)
        m.mmu.invalidatePage(Self.linear + 0x10_0000)  // another 4 KiB piece of the same 2 MiB page
        #expect(caught { try m.mmu.read(Self.linear, size: 8, .read) } == .pf(Self.linear, 0))
        #expect(caught { try m.mmu.read(Self.linear + 0x5_0000, size: 8, .read) } == .pf(Self.linear + 0x5_0000, 0))
    }

    // SDM §4.10.4.1: MOV to CR3 invalidates all non-global entries; global ones survive only with CR4.PGE.
    @Test func cr3LoadWithAndWithoutPGE() throws {
        for pge in [false, true] {
            let m = try machine(pge: pge, global: true)
            m.map(Self.linear + 0x1000, to: Self.frame + 0x1000, flags: M.present | M.writable)
            _ = try m.mmu.read(Self.linear, size: 8, .read)
            _ = try m.mmu.read(Self.linear + 0x1000, size: 8, .read)
            m.editLeaf(Self.linear, clear: M.present)
            m.editLeaf(Self.linear + 0x1000, clear: M.present)
            try m.state.writeCR3(m.state.cr3)
            let globalStillThere = caught { try m.mmu.read(Self.linear, size: 8, .read) } == nil
            #expect(globalStillThere == pge)
            #expect(caught { try m.mmu.read(Self.linear + 0x1000, size: 8, .read) } == .pf(Self.linear + 0x1000, 0))
            // Toggling PGE flushes global entries too.
            if pge {
                try m.state.writeCR4(m.state.cr4 & ~CR4.pge)
                #expect(caught { try m.mmu.read(Self.linear, size: 8, .read) } == .pf(Self.linear, 0))
            }
        }
    }

    @Test func memoryMapChangeFlushes() throws {
        let m = try machine()
        m.poke(Self.frame, 0x1234)
        #expect(try m.mmu.read(Self.linear, size: 8, .read) == 0x1234)
        // A device appears over the frame (a BAR moved there): the next access sees it.
        let device = ClosureMMIOHandler(read: { _, _ in 0x77 })
        let region = try MemoryRegion.mmio(name: "bar", size: 0x1000, handler: device)
        try m.root.addSubregion(region, at: Self.frame, priority: 1)
        m.state.tlb.checkMemoryMap()  // what the executor does at every block boundary
        #expect(try m.mmu.read(Self.linear, size: 8, .read) == 0x77)
        try m.root.removeSubregion(region)
        m.state.tlb.checkMemoryMap()
        #expect(try m.mmu.read(Self.linear, size: 8, .read) == 0x1234)
    }

    @Test func mmioAndROMTakeTheSlowPath() throws {
        let m = try M()
        m.map(Self.linear, to: M.mmioBase, flags: M.present | M.writable)
        m.map(Self.linear + 0x1000, to: M.romBase, flags: M.present | M.writable)
        m.enterLongMode()
        let before = m.deviceLog.reads.withLock { $0 }
        #expect(try m.mmu.read(Self.linear + 4, size: 2, .read) == 0xA5A5)
        #expect(try m.mmu.read(Self.linear + 4, size: 2, .read) == 0xA5A5)
        #expect(m.deviceLog.reads.withLock { $0 } - before == 2)  // no caching of device reads
        try m.mmu.write(Self.linear + 8, size: 4, value: 0xFEED, .write)
        #expect(m.deviceLog.writes.withLock { $0.last?.0 } == 8)
        #expect(m.deviceLog.writes.withLock { $0.last?.2 } == 0xFEED)
        // ROM: read fast, writes swallowed.
        #expect(try m.mmu.read(Self.linear + 0x1000, size: 1, .read) == 0x5A)
        try m.mmu.write(Self.linear + 0x1000, size: 1, value: 0, .write)
        #expect(try m.mmu.read(Self.linear + 0x1000, size: 1, .read) == 0x5A)
        #expect(m.state.tlb.hostAddress(Self.linear + 0x1000, size: 1, kind: .write, user: false) == nil)
    }

    @Test func storesToCodePagesReachTheHandlerThroughEveryMapping() throws {
        let m = try machine()
        let alias: UInt64 = 0x6000_0000_0000
        m.map(alias, to: Self.frame, flags: M.present | M.writable)
        // Both mappings filled for writes first: the fast path must be taken away.
        try m.mmu.write(Self.linear, size: 8, value: 0, .write)
        try m.mmu.write(alias, size: 8, value: 0, .write)
        let page = try m.mmu.markCodePage(containing: Self.linear + 0x10)
        #expect(page == Self.frame)
        #expect(m.state.tlb.hostAddress(alias, size: 8, kind: .write, user: false) == nil)
        let hits = Mutex<[UInt64]>([])
        m.mmu.codeWriteHandler = { page in hits.withLock { $0.append(page) } }
        try m.mmu.write(alias + 0x20, size: 4, value: 0x90, .write)
        #expect(hits.withLock { $0 } == [Self.frame])
        #expect(m.peek(Self.frame + 0x20, size: 4) == 0x90)
        // Reads keep the fast path.
        _ = try m.mmu.read(alias, size: 8, .read)
        #expect(m.state.tlb.hostAddress(alias, size: 8, kind: .read, user: false) != nil)
        // Released: the next write refills with the fast path.
        m.mmu.codePages.release(Self.frame)
        try m.mmu.write(Self.linear, size: 8, value: 0, .write)
        #expect(hits.withLock { $0.count } == 1)
    }

    @Test func dmaIntoACodePageIsReported() throws {
        let m = try machine()
        _ = try m.mmu.markCodePage(containing: Self.linear)
        m.poke(0x1000, 1)  // an unrelated page
        #expect(m.mmu.codePages.takeDeviceWrittenPages().isEmpty)
        // A device writes the code page through the bus (what virtio-blk's DMA does).
        m.space.writeBytes([0xCC, 0xCC], at: Self.frame + 0x100)
        #expect(m.mmu.codePages.takeDeviceWrittenPages() == [Self.frame])
        #expect(!m.mmu.codePages.isCode(Self.frame))
        #expect(m.mmu.codePages.takeDeviceWrittenPages().isEmpty)
    }

    @Test func otherDirtyClientsSeeCPUStores() throws {
        let m = try machine()
        guard let block = m.ram.ramBlock else {
            Issue.record("RAM has no block")
            return
        }
        block.startDirtyTracking(.display)
        m.state.tlb.flushAll()
        try m.mmu.write(Self.linear + 8, size: 8, value: 5, .write)
        try m.mmu.write(Self.linear + 16, size: 8, value: 6, .write)
        #expect(block.testAndClearDirty(.display, offset: Self.frame, length: 4096) == [Self.frame >> 12])
        try m.mmu.write(Self.linear + 16, size: 8, value: 7, .write)
        #expect(block.isDirty(.display, offset: Self.frame, length: 4096))
    }
}
