import Atomics
import EmuCore

/// The result of translating one linear address.
public struct PageTranslation: Hashable, Sendable {
    /// The physical address of the translated byte.
    public let physicalAddress: UInt64
    /// The size of the page that maps it (4 KiB, 2 MiB, 4 MiB or 1 GiB; 4 KiB with paging off).
    public let pageSize: UInt64
    /// Writable for this access's privilege (R/W at every level, or a supervisor access with
    /// CR0.WP clear).
    public let writable: Bool
    /// U/S set at every level.
    public let user: Bool
    /// Instruction fetches allowed (no XD bit at any level while EFER.NXE is set).
    public let executable: Bool
    /// The leaf has G set and CR4.PGE is on: kept across CR3 loads.
    public let global: Bool
    /// The leaf's D bit is set (after this walk).
    public let dirty: Bool
    /// The PAT index of the leaf (PAT << 2 | PCD << 1 | PWT); 0 with paging off.
    public let memoryTypeIndex: UInt8

    /// The 4 KiB-aligned physical address of the translated byte's 4 KiB page.
    public var physicalPage: UInt64 { physicalAddress & ~0xFFF }
}

/// The page walk (Intel SDM Vol. 3A chapter 4): paging off, 32-bit paging (with 4 MiB pages
/// under CR4.PSE), PAE paging and 4-level paging (4 KiB, 2 MiB and 1 GiB pages), with the
/// access-rights checks of §4.6, the reserved-bit checks against MAXPHYADDR, the exact
/// page-fault error code of §4.7 and the accessed and dirty bits of §4.8. PAE paging reads its
/// four PDPTEs on every walk (as QEMU does) rather than caching them at MOV to CR3.
///
/// Paging-structure entries are read from guest-physical memory through the bus, so a table
/// in RAM, ROM, MMIO or unassigned space reads what the bus returns (all ones where nothing
/// decodes, which fails the reserved-bit check); nothing a guest puts in its tables traps the
/// host. A and D bits are set with an atomic compare-exchange on RAM (the walk restarts when
/// the entry changed under it, at most ``maximumRestarts`` times, after which the bits are left
/// as they are) and with a bus read-modify-write elsewhere. Upper-level A bits are set as the
/// walk uses each entry, the leaf's A and D only when the access is allowed, as QEMU does.
public enum PageWalker {
    /// How often a walk restarts because an entry changed while its A/D bits were being set.
    public static let maximumRestarts = 16

    /// Translates `linear` for `intent` under the paging mode `state` selects.
    ///
    /// - Parameters:
    ///   - isUser: a user-mode access (CPL 3 and not an implicit supervisor access).
    /// - Throws: #GP(0) (#SS(0) for stack references) for a non-canonical address in IA-32e
    ///   mode; #PF with the address and error code for a translation or permission failure.
    public static func translate(_ linear: UInt64, intent: AccessIntent, isUser: Bool, state: SystemState,
                                 memory: AddressSpace) throws(X86Exception) -> PageTranslation {
        let lma = state.isLongModeActive
        if lma && !SystemState.isCanonical(linear) {
            throw intent.isStack ? .stackFault(0) : .generalProtection(0)
        }
        guard state.isPaging else {
            let address = lma ? linear : linear & 0xFFFF_FFFF
            return PageTranslation(physicalAddress: address, pageSize: 4096, writable: true, user: true,
                                   executable: true, global: false, dirty: true, memoryTypeIndex: 0)
        }
        let walker = Walk(linear: lma ? linear : linear & 0xFFFF_FFFF, intent: intent, isUser: isUser,
                          state: state, view: memory.flatView, memory: memory)
        for _ in 0...maximumRestarts {
            if let result = try walker.run(setBits: true) { return result }
        }
        // The tables kept changing under the walk: translate without setting A/D bits.
        if let result = try walker.run(setBits: false) { return result }
        throw .pageFault(address: linear, errorCode: walker.errorCode(present: false, reserved: false))
    }
}

/// One walk's inputs and its level loop.
private struct Walk {
    let linear: UInt64
    let intent: AccessIntent
    let isUser: Bool
    let state: SystemState
    let view: FlatView
    let memory: AddressSpace

    init(linear: UInt64, intent: AccessIntent, isUser: Bool, state: SystemState, view: FlatView, memory: AddressSpace) {
        self.linear = linear
        self.intent = intent
        self.isUser = isUser
        self.state = state
        self.view = view
        self.memory = memory
    }

    var nxe: Bool { state.efer & EFER.nxe != 0 }
    var paeType: Bool { state.cr4 & CR4.pae != 0 }

    func errorCode(present: Bool, reserved: Bool) -> PageFaultErrorCode {
        var code: PageFaultErrorCode = []
        if present { code.insert(.present) }
        if reserved { code.insert(.reservedBit) }
        if intent.kind == .write { code.insert(.write) }
        if isUser { code.insert(.user) }
        if intent.kind == .fetch && paeType && nxe { code.insert(.instructionFetch) }
        return code
    }

    func fault(present: Bool, reserved: Bool = false) -> X86Exception {
        .pageFault(address: linear, errorCode: errorCode(present: present, reserved: reserved))
    }

    /// Reads the entry of `size` (4 or 8) bytes at physical `address` through the bus.
    func readEntry(_ address: UInt64, size: Int) -> UInt64 {
        let backing = view.backing(at: address)
        if backing.kind == .ram || backing.kind == .rom, backing.extent >= UInt64(size), let host = backing.hostAddress {
            return size == 8 ? UInt64(littleEndian: host.loadUnaligned(as: UInt64.self))
                             : UInt64(UInt32(littleEndian: host.loadUnaligned(as: UInt32.self)))
        }
        return memory.read(at: address, size: size)
    }

    /// Sets `bits` in the entry at `address` that was read as `old`. Returns `false` when the
    /// entry no longer holds `old` (the walk must restart).
    func setBits(_ bits: UInt64, in old: UInt64, at address: UInt64, size: Int) -> Bool {
        guard old & bits != bits else { return true }
        let backing = view.backing(at: address)
        if backing.kind == .ram, backing.extent >= UInt64(size), let host = backing.hostAddress,
           Int(bitPattern: host) & (size - 1) == 0 {
            let swapped: Bool
            if size == 8 {
                let atomic = UnsafeAtomic<UInt64>(at: host.assumingMemoryBound(to: UnsafeAtomic<UInt64>.Storage.self))
                swapped = atomic.compareExchange(expected: old.littleEndian, desired: (old | bits).littleEndian,
                                                 ordering: .sequentiallyConsistent).exchanged
            } else {
                let atomic = UnsafeAtomic<UInt32>(at: host.assumingMemoryBound(to: UnsafeAtomic<UInt32>.Storage.self))
                swapped = atomic.compareExchange(expected: UInt32(truncatingIfNeeded: old).littleEndian,
                                                 desired: UInt32(truncatingIfNeeded: old | bits).littleEndian,
                                                 ordering: .sequentiallyConsistent).exchanged
            }
            if swapped { backing.block?.markDirty(offset: backing.blockOffset, length: UInt64(size)) }
            return swapped
        }
        // Not RAM (MMIO, ROM, nothing): a locked read-modify-write on the bus, as the CPU does.
        memory.write(at: address, size: size, value: old | bits)
        return true
    }

    /// One attempt; `nil` when an entry changed while its A bit was set (restart).
    func run(setBits: Bool) throws(X86Exception) -> PageTranslation? {
        let maxPhysical = state.features.physicalAddressMask
        let addressBits: UInt64 = maxPhysical & ~0xFFF
        if state.isLongModeActive || paeType {
            // Bits 51:MAXPHYADDR, and XD unless EFER.NXE.
            let reservedHigh: UInt64 = (((UInt64(1) << 52) - 1) & ~maxPhysical) | (nxe ? 0 : 1 << 63)
            var table = state.cr3 & addressBits & ~0x1F  // PAE's CR3 holds a 32-byte aligned PDPT.
            var userOK = true, writeOK = true, noExecute = false
            var shifts: [UInt64]
            if state.isLongModeActive {
                table = state.cr3 & addressBits
                shifts = [39, 30, 21, 12]
            } else {
                // PAE paging (SDM §4.4): the PDPTE has only P and reserved bits.
                table = state.cr3 & 0xFFFF_FFE0
                let pdpteAddress = table + ((linear >> 30) & 3) * 8
                let pdpte = readEntry(pdpteAddress, size: 8)
                guard pdpte & 1 != 0 else { throw fault(present: false) }
                let pdpteReserved: UInt64 = ~maxPhysical | 0x1E6
                if pdpte & pdpteReserved != 0 { throw fault(present: true, reserved: true) }
                table = pdpte & addressBits
                shifts = [21, 12]
            }
            for (levelIndex, shift) in shifts.enumerated() {
                let entryAddress = table + ((linear >> shift) & 0x1FF) * 8
                let entry = readEntry(entryAddress, size: 8)
                guard entry & 1 != 0 else { throw fault(present: false) }
                let isLeafLevel = shift == 12
                let pageSizeBit = entry & (1 << 7) != 0 && !isLeafLevel
                var reserved = reservedHigh
                switch shift {
                case 39: reserved |= 1 << 7
                case 30 where pageSizeBit:
                    if !state.features.gigabytePages { throw fault(present: true, reserved: true) }
                    reserved |= 0x3FFF_E000  // bits 29:13
                case 21 where pageSizeBit:
                    reserved |= 0x1F_E000  // bits 20:13
                default: break
                }
                if entry & reserved != 0 { throw fault(present: true, reserved: true) }
                userOK = userOK && entry & 4 != 0
                writeOK = writeOK && entry & 2 != 0
                noExecute = noExecute || (nxe && entry & (1 << 63) != 0)
                if isLeafLevel || pageSizeBit {
                    let size = UInt64(1) << shift
                    let frame = entry & addressBits & ~(size - 1)
                    let pat = UInt8(truncatingIfNeeded: ((isLeafLevel ? entry >> 7 : entry >> 12) & 1) << 2
                                    | (entry >> 3) & 3)
                    return try finish(entry: entry, at: entryAddress, size: 8, frame: frame, pageSize: size,
                                      userOK: userOK, writeOK: writeOK, noExecute: noExecute, pat: pat,
                                      setBits: setBits)
                }
                _ = levelIndex
                if setBits && !self.setBits(1 << 5, in: entry, at: entryAddress, size: 8) { return nil }
                table = entry & addressBits
            }
            throw fault(present: false)  // not reached: the last level is always a leaf
        }
        // 32-bit paging (SDM §4.3).
        let pdeAddress = (state.cr3 & 0xFFFF_F000) + ((linear >> 22) & 0x3FF) * 4
        let pde = readEntry(pdeAddress, size: 4)
        guard pde & 1 != 0 else { throw fault(present: false) }
        if pde & (1 << 7) != 0 && state.cr4 & CR4.pse != 0 {
            // 4 MiB page: bits 20:13 are physical bits 39:32 (MAXPHYADDR 40), bit 21 reserved.
            if pde & (1 << 21) != 0 { throw fault(present: true, reserved: true) }
            let frame = (pde & 0xFFC0_0000) | ((pde >> 13) & 0xFF) << 32
            let pat = UInt8(truncatingIfNeeded: ((pde >> 12) & 1) << 2 | (pde >> 3) & 3)
            return try finish(entry: pde, at: pdeAddress, size: 4, frame: frame, pageSize: 4 << 20,
                              userOK: pde & 4 != 0, writeOK: pde & 2 != 0, noExecute: false, pat: pat,
                              setBits: setBits)
        }
        if setBits && !self.setBits(1 << 5, in: pde, at: pdeAddress, size: 4) { return nil }
        let pteAddress = (pde & 0xFFFF_F000) + ((linear >> 12) & 0x3FF) * 4
        let pte = readEntry(pteAddress, size: 4)
        guard pte & 1 != 0 else { throw fault(present: false) }
        let pat = UInt8(truncatingIfNeeded: ((pte >> 7) & 1) << 2 | (pte >> 3) & 3)
        return try finish(entry: pte, at: pteAddress, size: 4, frame: pte & 0xFFFF_F000, pageSize: 4096,
                          userOK: pde & pte & 4 != 0, writeOK: pde & pte & 2 != 0, noExecute: false, pat: pat,
                          setBits: setBits)
    }

    /// The access-rights checks (SDM §4.6) and the leaf's A/D bits.
    func finish(entry: UInt64, at entryAddress: UInt64, size: Int, frame: UInt64, pageSize: UInt64,
                userOK: Bool, writeOK: Bool, noExecute: Bool, pat: UInt8, setBits: Bool) throws(X86Exception) -> PageTranslation? {
        let wp = state.cr0 & CR0.wp != 0
        if isUser && !userOK { throw fault(present: true) }
        switch intent.kind {
        case .write:
            if !writeOK && (isUser || wp) { throw fault(present: true) }
        case .fetch:
            if noExecute { throw fault(present: true) }
        case .read:
            break
        }
        var bits: UInt64 = 1 << 5
        if intent.kind == .write { bits |= 1 << 6 }
        if setBits && !self.setBits(bits, in: entry, at: entryAddress, size: size) { return nil }
        let dirty = entry & (1 << 6) != 0 || (setBits && intent.kind == .write)
        let global = entry & (1 << 8) != 0 && state.cr4 & CR4.pge != 0
        return PageTranslation(physicalAddress: frame | (linear & (pageSize - 1)), pageSize: pageSize,
                               writable: writeOK || (!isUser && !wp), user: userOK, executable: !noExecute,
                               global: global, dirty: dirty, memoryTypeIndex: pat)
    }
}
