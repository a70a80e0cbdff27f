import EmuCore
import EmuTCG
import Synchronization
import Testing

/// A small machine for system-mode unit tests: 4 MiB of RAM at 0, a device at 0x8000_0000 that
/// reads as a fixed pattern and records writes, a ROM page at 0x9000_0000, and helpers that
/// build 4-level page tables in RAM.
final class SystemTestMachine {
    static let ramSize: UInt64 = 4 << 20
    static let mmioBase: UInt64 = 0x8000_0000
    static let romBase: UInt64 = 0x9000_0000
    /// What every MMIO read returns (low `size` bytes).
    static let mmioPattern: UInt64 = 0xA5A5_A5A5_A5A5_A5A5

    let root: MemoryRegion
    let ram: MemoryRegion
    let space: AddressSpace
    let clock = VirtualClock()
    let state: SystemState
    let mmu: SystemMMU
    /// What the device saw.
    final class DeviceLog: Sendable {
        let writes = Mutex<[(UInt64, Int, UInt64)]>([])
        let reads = Mutex<Int>(0)
    }
    let deviceLog = DeviceLog()
    /// Page tables are allocated from here up (1 MiB…2 MiB).
    private var nextTable: UInt64 = 0x10_0000
    /// The PML4 (also CR3 after ``enterLongMode``).
    private(set) var pml4: UInt64 = 0

    init(controller: (any CPUInterruptController)? = nil) throws {
        root = try MemoryRegion.container(name: "system", size: .max)
        ram = try MemoryRegion.ram(name: "ram", size: Self.ramSize)
        try root.addSubregion(ram, at: 0)
        let log = deviceLog
        let device = ClosureMMIOHandler(read: { _, _ in
            log.reads.withLock { $0 += 1 }
            return SystemTestMachine.mmioPattern
        }, write: { offset, size, value in
            log.writes.withLock { $0.append((offset, size, value)) }
        })
        try root.addSubregion(try MemoryRegion.mmio(name: "device", size: 0x1000, handler: device), at: Self.mmioBase)
        let rom = try MemoryRegion.rom(name: "rom", size: 0x1000)
        try rom.hostWrite([UInt8](repeating: 0x5A, count: 0x1000), at: 0)
        try root.addSubregion(rom, at: Self.romBase)
        space = AddressSpace(name: "system", root: root)
        state = SystemState(timestampCounter: TimestampCounterBase(clock: clock, frequency: 2_000_000_000),
                            interruptController: controller)
        mmu = SystemMMU(state: state, memory: space)
        pml4 = newTable()
    }

    // MARK: Physical memory

    func poke(_ address: UInt64, _ value: UInt64, size: Int = 8) { space.write(at: address, size: size, value: value) }
    func peek(_ address: UInt64, size: Int = 8) -> UInt64 { space.read(at: address, size: size) }

    /// A zeroed 4 KiB table.
    func newTable() -> UInt64 {
        let table = nextTable
        nextTable += 0x1000
        space.writeBytes([UInt8](repeating: 0, count: 4096), at: table)
        return table
    }

    // MARK: Page tables

    static let present: UInt64 = 1 << 0
    static let writable: UInt64 = 1 << 1
    static let user: UInt64 = 1 << 2
    static let accessed: UInt64 = 1 << 5
    static let dirty: UInt64 = 1 << 6
    static let pageSize: UInt64 = 1 << 7
    static let global: UInt64 = 1 << 8
    static let noExecute: UInt64 = 1 << 63
    static let allUpper: UInt64 = present | writable | user

    /// The physical addresses of the entries used to map `linear` (PML4E, PDPTE, PDE, PTE),
    /// as far as they exist.
    func entryAddresses(_ linear: UInt64) -> [UInt64] {
        var table = pml4
        var result: [UInt64] = []
        for shift: UInt64 in [39, 30, 21, 12] {
            let address = table + ((linear >> shift) & 0x1FF) * 8
            result.append(address)
            let entry = peek(address)
            if entry & Self.present == 0 || (shift != 12 && entry & Self.pageSize != 0) { break }
            table = entry & 0xF_FFFF_FFFF_F000
        }
        return result
    }

    /// Maps `linear` to `physical` with a page of `size` (4 KiB, 2 MiB or 1 GiB) and the leaf
    /// `flags` (present is not implied); the entries above get `upper`.
    func map(_ linear: UInt64, to physical: UInt64, size: UInt64 = 4096, flags: UInt64, upper: UInt64 = allUpper) {
        let leafShift: UInt64 = size == 1 << 30 ? 30 : size == 1 << 21 ? 21 : 12
        var table = pml4
        for shift: UInt64 in [39, 30, 21, 12] {
            let address = table + ((linear >> shift) & 0x1FF) * 8
            if shift == leafShift {
                poke(address, physical | flags | (shift == 12 ? 0 : Self.pageSize))
                return
            }
            var entry = peek(address)
            if entry & Self.present == 0 || entry & Self.pageSize != 0 {
                entry = newTable()
            }
            entry = (entry & 0xF_FFFF_FFFF_F000) | upper
            poke(address, entry)
            table = entry & 0xF_FFFF_FFFF_F000
        }
    }

    /// Sets or clears bits of the leaf entry mapping `linear`.
    func editLeaf(_ linear: UInt64, set: UInt64 = 0, clear: UInt64 = 0) {
        guard let leaf = entryAddresses(linear).last else { return }
        poke(leaf, (peek(leaf) & ~clear) | set)
    }

    /// 64-bit mode at CPL 0 with CR3 = the PML4 and EFER.NXE unless `nxe` is false.
    func enterLongMode(nxe: Bool = true, pge: Bool = false) {
        state.enterLongMode(cr3: pml4, extraCR4: pge ? CR4.pge : 0, extraEFER: nxe ? EFER.nxe : 0)
    }

    /// Switches CS/SS to CPL 3 flat 64-bit segments (without checks: test setup).
    func dropToUser() {
        state[.cs] = SegmentCache(selector: 0x2B, base: 0, limit: 0xFFFF_FFFF,
                                  attributes: .make(type: 0xB, dpl: 3, long: true, pageGranular: true))
        state[.ss] = SegmentCache(selector: 0x23, base: 0, limit: 0xFFFF_FFFF,
                                  attributes: .make(type: 3, dpl: 3, defaultBig: true, pageGranular: true))
    }

    // MARK: Descriptor tables

    /// A flat code or data descriptor.
    static func segment(type: UInt8, dpl: UInt8, long: Bool = false, big: Bool = true, present: Bool = true,
                        base: UInt32 = 0, limit: UInt32 = 0xFFFFF) -> UInt64 {
        var d = UInt64(limit & 0xFFFF) | UInt64(base & 0xFF_FFFF) << 16 | UInt64(type & 0xF) << 40 | 1 << 44
            | UInt64(dpl & 3) << 45 | UInt64((limit >> 16) & 0xF) << 48 | UInt64(base >> 24) << 56 | 1 << 55
        if present { d |= 1 << 47 }
        if long { d |= 1 << 53 }
        if big { d |= 1 << 54 }
        return d
    }

    /// A 16-byte system descriptor (TSS, LDT, gates use `gate`).
    static func system(type: UInt8, base: UInt64, limit: UInt32, dpl: UInt8 = 0, present: Bool = true) -> (UInt64, UInt64) {
        var low = UInt64(limit & 0xFFFF) | (base & 0xFF_FFFF) << 16 | UInt64(type & 0xF) << 40
            | UInt64(dpl & 3) << 45 | UInt64((limit >> 16) & 0xF) << 48 | ((base >> 24) & 0xFF) << 56
        if present { low |= 1 << 47 }
        return (low, base >> 32)
    }

    /// A 64-bit interrupt (0xE) or trap (0xF) gate.
    static func gate(offset: UInt64, selector: UInt16, type: UInt8 = 0xE, dpl: UInt8 = 0, ist: Int = 0,
                     present: Bool = true) -> (UInt64, UInt64) {
        var low = (offset & 0xFFFF) | UInt64(selector) << 16 | UInt64(ist & 7) << 32 | UInt64(type) << 40
            | UInt64(dpl) << 45 | ((offset >> 16) & 0xFFFF) << 48
        if present { low |= 1 << 47 }
        return (low, offset >> 32)
    }

    static let gdtBase: UInt64 = 0x20_0000
    static let idtBase: UInt64 = 0x20_1000
    static let tssBase: UInt64 = 0x20_2000
    static let kernelCode: UInt16 = 0x10
    static let kernelData: UInt16 = 0x18
    static let userData: UInt16 = 0x23
    static let userCode: UInt16 = 0x2B
    static let tssSelector: UInt16 = 0x30

    /// A Linux-like GDT, accessed bits clear (null, 32-bit code 0x08, 64-bit kernel code 0x10, kernel data 0x18,
    /// user data 0x20, user code 0x28, 64-bit TSS 0x30), identity-mapped at `gdtBase` with the
    /// IDT and TSS, and GDTR/IDTR/TR loaded. RSP0 and IST1 in the TSS are set by the caller.
    func installDescriptorTables() {
        let entries: [UInt64] = [
            0,
            Self.segment(type: 0xA, dpl: 0, big: true),
            Self.segment(type: 0xA, dpl: 0, long: true, big: false),
            Self.segment(type: 0x2, dpl: 0),
            Self.segment(type: 0x2, dpl: 3),
            Self.segment(type: 0xA, dpl: 3, long: true, big: false),
        ]
        for (i, e) in entries.enumerated() { poke(Self.gdtBase + UInt64(i) * 8, e) }
        let tss = Self.system(type: SystemDescriptorType.availableTSS, base: Self.tssBase, limit: 0x67)
        poke(Self.gdtBase + 0x30, tss.0)
        poke(Self.gdtBase + 0x38, tss.1)
        for page in [Self.gdtBase, Self.idtBase, Self.tssBase] {
            map(page, to: page, flags: Self.present | Self.writable)
        }
        state.gdtr = DescriptorTableRegister(base: Self.gdtBase, limit: 0x3F)
        state.idtr = DescriptorTableRegister(base: Self.idtBase, limit: 0xFFF)
        state.tr = SegmentCache(selector: Self.tssSelector, base: Self.tssBase, limit: 0x67,
                                attributes: .make(type: SystemDescriptorType.busyTSS, codeOrData: false, dpl: 0))
    }

    /// Writes IDT entry `vector`.
    func setGate(_ vector: UInt8, _ gate: (UInt64, UInt64)) {
        poke(Self.idtBase + UInt64(vector) * 16, gate.0)
        poke(Self.idtBase + UInt64(vector) * 16 + 8, gate.1)
    }
}

/// An interrupt controller for tests: a settable priority class and a few owned MSRs.
final class FakeInterruptController: CPUInterruptController {
    struct State {
        var pending: CPUInterruptEvents = []
        var vector: UInt8 = 0x20
        var priority: UInt8 = 0
        var apicBase: UInt64 = 0xFEE0_0900
        var deadline: UInt64 = 0
    }
    let state = Mutex(State())

    var pendingEvents: CPUInterruptEvents { state.withLock { $0.pending } }
    func acknowledgeInterrupt() -> UInt8 {
        state.withLock { s in
            s.pending.remove(.interrupt)
            return s.vector
        }
    }
    func takeNMI() -> Bool { state.withLock { $0.pending.remove(.nmi) != nil } }
    func takeINIT() -> Bool { state.withLock { $0.pending.remove(.initSignal) != nil } }
    func takeStartup() -> UInt8? { nil }
    var taskPriorityClass: UInt8 { state.withLock { $0.priority } }
    func setTaskPriorityClass(_ priorityClass: UInt8) { state.withLock { $0.priority = priorityClass & 0xF } }
    func readMSR(_ index: UInt32) -> UInt64? {
        state.withLock { s in
            switch index {
            case 0x1B: return s.apicBase
            case 0x6E0: return s.deadline
            default: return nil
            }
        }
    }
    func writeMSR(_ index: UInt32, value: UInt64) -> Bool {
        state.withLock { s in
            switch index {
            case 0x1B:
                guard value & 0x2FF == 0 else { return false }
                s.apicBase = value
                return true
            case 0x6E0:
                s.deadline = value
                return true
            default: return false
            }
        }
    }
    func setNotifier(_ notify: @escaping @Sendable () -> Void) {}
}

extension X86Exception {
    /// Shorthand for expectations: a #PF at `address` with `code`.
    static func pf(_ address: UInt64, _ code: UInt32) -> X86Exception {
        .pageFault(address: address, errorCode: PageFaultErrorCode(rawValue: code))
    }
}

/// Runs `body` and returns the exception it threw, or nil (an error of another type fails the test).
func caught<T>(_ body: () throws -> T) -> X86Exception? {
    do {
        _ = try body()
        return nil
    } catch let exception as X86Exception {
        return exception
    } catch {
        Issue.record("unexpected error \(error)")
        return nil
    }
}
