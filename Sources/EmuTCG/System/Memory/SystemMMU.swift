import EmuCore

/// Linear memory of one CPU in system mode: the soft TLB's fast path, and a slow path that
/// walks the page tables (``PageWalker``), fills the TLB and reaches RAM, ROM and MMIO through
/// EmuCore's ``AddressSpace``.
///
/// Stores to a page that holds translated code (``CodePageTracker``) always take the slow
/// path; after the store, ``codeWriteHandler`` is called with the physical page so the
/// executor can drop the blocks translated from it. An access that crosses a 4 KiB boundary
/// translates both pages before touching either, so a fault writes nothing.
///
/// Not `Sendable`: one vCPU thread owns it.
public final class SystemMMU: LinearMemory {
    /// The CPU whose control registers, CPL and TLB this MMU uses.
    public let state: SystemState
    /// Guest-physical memory.
    public let memory: AddressSpace
    /// Pages holding translated code.
    public let codePages: CodePageTracker
    /// Called after a CPU store reached a page in ``codePages`` (with the 4 KiB-aligned
    /// physical page); the store has happened.
    public var codeWriteHandler: ((UInt64) -> Void)?

    /// The MMU of the CPU `state`, over guest-physical `memory`.
    public init(state: SystemState, memory: AddressSpace, codePages: CodePageTracker = CodePageTracker()) {
        self.state = state
        self.memory = memory
        self.codePages = codePages
    }

    /// The TLB (the state's).
    public var tlb: SoftTLB { state.tlb }

    /// Whether `intent` is a user-mode access at the current CPL.
    @inline(__always)
    func isUser(_ intent: AccessIntent) -> Bool { state.cpl == 3 && !intent.isImplicitSupervisor }

    /// Translates `linear` for `intent` without using or filling the TLB (for debuggers, the
    /// decoder's page checks and tests).
    /// - Throws: as ``PageWalker/translate(_:intent:isUser:state:memory:)``.
    public func translate(_ linear: UInt64, _ intent: AccessIntent) throws(X86Exception) -> PageTranslation {
        try PageWalker.translate(linear, intent: intent, isUser: isUser(intent), state: state, memory: memory)
    }

    /// INVLPG (SDM Vol. 2A; CPL 0 is the caller's check): drops the TLB entries for the page
    /// of `linear`.
    public func invalidatePage(_ linear: UInt64) { tlb.flushPage(linear) }

    // MARK: Accesses

    /// See ``LinearMemory/read(_:size:_:)``: the TLB fast path, else the slow path.
    public func read(_ address: UInt64, size: Int, _ intent: AccessIntent) throws(X86Exception) -> UInt64 {
        let user = isUser(intent)
        if let host = tlb.hostAddress(address, size: size, kind: intent.kind, user: user) {
            return Self.load(host, size)
        }
        return try slowRead(address, size: size, intent, user: user)
    }

    /// See ``LinearMemory/write(_:size:value:_:)``: the TLB fast path, else the slow path.
    public func write(_ address: UInt64, size: Int, value: UInt64, _ intent: AccessIntent) throws(X86Exception) {
        let user = isUser(intent)
        if let host = tlb.hostAddress(address, size: size, kind: .write, user: user) {
            Self.store(host, size, value)
            return
        }
        try slowWrite(address, size: size, value: value, intent, user: user)
    }

    /// Reads `size` (1…8) instruction bytes at `address`.
    public func fetch(_ address: UInt64, size: Int) throws(X86Exception) -> UInt64 {
        try read(address, size: size, .fetch)
    }

    /// The physical page (4 KiB aligned) the instruction byte at `address` comes from, with
    /// the checks of a fetch (for keying a translated block to its page).
    public func codePhysicalPage(_ address: UInt64) throws(X86Exception) -> UInt64 {
        try resolve(address, .fetch, user: isUser(.fetch)).physicalPage
    }

    // MARK: Slow path

    /// Where one page of an access goes.
    struct Resolved {
        let physicalPage: UInt64
        let host: UnsafeMutableRawPointer?  // the page's host address when RAM (or ROM for reads)
        let kind: PhysicalBacking.Kind
        let fastTag: Bool
    }

    /// Finds (or walks and installs) the translation of the page of `address` for `kind`.
    func resolve(_ address: UInt64, _ intent: AccessIntent, user: Bool) throws(X86Exception) -> Resolved {
        tlb.checkMemoryMap()
        let page = address & ~0xFFF
        if tlb.hasTranslation(address, kind: intent.kind, user: user) {
            let (entry, info) = tlb.entryInfo(address, user: user)
            let tag: UInt64
            switch intent.kind {
            case .read: tag = entry.readTag
            case .write: tag = entry.writeTag
            case .fetch: tag = entry.fetchTag
            }
            let host = info.block != nil ? UnsafeMutableRawPointer(bitPattern: UInt(truncatingIfNeeded: page &+ entry.addend)) : nil
            return Resolved(physicalPage: info.physicalPage, host: host, kind: info.backingKind,
                            fastTag: tag & Self.slowFlag == 0)
        }
        let translation = try PageWalker.translate(address, intent: intent, isUser: user, state: state, memory: memory)
        let physicalPage = translation.physicalPage
        let backing = memory.backing(at: physicalPage)
        let wholePage = backing.extent >= 4096 && backing.hostAddress != nil
        let host = wholePage ? backing.hostAddress : nil
        let hostKind: PhysicalBacking.Kind = wholePage ? backing.kind : (backing.kind == .unassigned ? .unassigned : .mmio)
        // Read: allowed by a successful walk. Write: only if the walk allowed it and D is set.
        // Fetch: only if executable.
        let readTag = host != nil ? page : page | Self.slowFlag
        var writeTag = SoftTLB.invalidTag
        if translation.writable && translation.dirty {
            let fast = hostKind == .ram && !codePages.isCode(physicalPage) && !Self.watchedByOthers(backing.block)
            writeTag = fast ? page : page | Self.slowFlag
        }
        var fetchTag = SoftTLB.invalidTag
        if translation.executable && (translation.user || !user) {
            fetchTag = host != nil ? page : page | Self.slowFlag
        }
        let mappingSize = translation.pageSize
        tlb.install(linearPage: page, user: user, readTag: readTag, writeTag: writeTag, fetchTag: fetchTag,
                    hostPage: host, physicalPage: physicalPage, global: translation.global,
                    mappingBase: address & ~(mappingSize - 1), mappingSize: mappingSize,
                    backing: hostKind, block: host != nil ? backing.block : nil)
        let tag: UInt64
        switch intent.kind {
        case .read: tag = readTag
        case .write: tag = writeTag
        case .fetch: tag = fetchTag
        }
        return Resolved(physicalPage: physicalPage, host: host, kind: hostKind, fastTag: tag & Self.slowFlag == 0)
    }

    static let slowFlag = SoftTLB.slowPathFlag

    /// Whether a dirty-tracking client other than `code` (migration, display, custom) watches
    /// `block`: CPU stores must then go through the bus so they are recorded.
    static func watchedByOthers(_ block: RAMBlock?) -> Bool {
        guard let block else { return false }
        if block.isTrackingDirty(.migration) || block.isTrackingDirty(.display) { return true }
        for n in 0..<DirtyMemoryClient.customCount {
            if let client = DirtyMemoryClient.custom(n), block.isTrackingDirty(client) { return true }
        }
        return false
    }

    /// Checks the canonical form of the last byte too (the walker checks the first).
    func checkLastByte(_ address: UInt64, size: Int, _ intent: AccessIntent) throws(X86Exception) {
        guard state.isLongModeActive else { return }
        let last = address &+ UInt64(size - 1)
        if !SystemState.isCanonical(last) || !SystemState.isCanonical(address) {
            throw intent.isStack ? .stackFault(0) : .generalProtection(0)
        }
    }

    func slowRead(_ address: UInt64, size: Int, _ intent: AccessIntent, user: Bool) throws(X86Exception) -> UInt64 {
        guard size >= 1 && size <= 8 else { return 0 }
        try checkLastByte(address, size: size, intent)
        let offset = Int(address & 0xFFF)
        if offset + size <= 4096 {
            let page = try resolve(address, intent, user: user)
            return readPiece(page, offset: offset, size: size)
        }
        let firstSize = 4096 - offset
        let first = try resolve(address, intent, user: user)
        let second = try resolve(address &+ UInt64(firstSize), intent, user: user)
        let low = readPiece(first, offset: offset, size: firstSize)
        let high = readPiece(second, offset: 0, size: size - firstSize)
        return low | high << UInt64(firstSize * 8)
    }

    func slowWrite(_ address: UInt64, size: Int, value: UInt64, _ intent: AccessIntent, user: Bool) throws(X86Exception) {
        guard size >= 1 && size <= 8 else { return }
        try checkLastByte(address, size: size, intent)
        let offset = Int(address & 0xFFF)
        if offset + size <= 4096 {
            let page = try resolve(address, intent, user: user)
            writePiece(page, offset: offset, size: size, value: value)
            return
        }
        let firstSize = 4096 - offset
        let first = try resolve(address, intent, user: user)
        let second = try resolve(address &+ UInt64(firstSize), intent, user: user)
        writePiece(first, offset: offset, size: firstSize, value: value)
        writePiece(second, offset: 0, size: size - firstSize, value: value >> UInt64(firstSize * 8))
    }

    func readPiece(_ page: Resolved, offset: Int, size: Int) -> UInt64 {
        if let host = page.host { return Self.load(host + offset, size) }
        return memory.read(at: page.physicalPage + UInt64(offset), size: size)
    }

    func writePiece(_ page: Resolved, offset: Int, size: Int, value: UInt64) {
        let physical = page.physicalPage + UInt64(offset)
        if page.fastTag, let host = page.host {
            Self.store(host + offset, size, value)
            return
        }
        // The bus marks RAM dirty for every client, swallows ROM writes and reaches devices.
        memory.write(at: physical, size: size, value: value)
        if codePages.isCode(page.physicalPage) {
            codeWriteHandler?(page.physicalPage)
        }
        if page.kind == .mmio {
            tlb.checkMemoryMap()  // the device may have moved a region
        }
    }

    @inline(__always)
    static func load(_ p: UnsafeMutableRawPointer, _ size: Int) -> UInt64 {
        switch size {
        case 1: return UInt64(p.load(as: UInt8.self))
        case 2: return UInt64(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self)))
        case 4: return UInt64(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
        case 8: return UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))
        default:
            var v: UInt64 = 0
            for i in 0..<min(size, 8) { v |= UInt64(p.load(fromByteOffset: i, as: UInt8.self)) << UInt64(8 * i) }
            return v
        }
    }

    @inline(__always)
    static func store(_ p: UnsafeMutableRawPointer, _ size: Int, _ value: UInt64) {
        switch size {
        case 1: p.storeBytes(of: UInt8(truncatingIfNeeded: value), as: UInt8.self)
        case 2: p.storeBytes(of: UInt16(truncatingIfNeeded: value).littleEndian, as: UInt16.self)
        case 4: p.storeBytes(of: UInt32(truncatingIfNeeded: value).littleEndian, as: UInt32.self)
        case 8: p.storeBytes(of: value.littleEndian, as: UInt64.self)
        default:
            for i in 0..<min(size, 8) {
                p.storeBytes(of: UInt8(truncatingIfNeeded: value >> UInt64(8 * i)), toByteOffset: i, as: UInt8.self)
            }
        }
    }

    /// Marks the physical page behind the instruction at `address` as holding translated code
    /// and takes the write fast path away from every TLB entry mapping it. Returns the
    /// physical page, or `nil` when it is not RAM/ROM (do not keep the block).
    /// - Throws: as a fetch of `address`.
    public func markCodePage(containing address: UInt64) throws(X86Exception) -> UInt64? {
        let page = try codePhysicalPage(address)
        guard codePages.markCode(page, backing: memory.backing(at: page)) else { return nil }
        tlb.protectCodePage(page)
        return page
    }
}
