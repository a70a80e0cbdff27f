import EmuCore

/// One entry of the software TLB, laid out for an inlined fast path: three tags and an addend.
///
/// A tag is the 4 KiB-aligned linear page address when that kind of access may go straight to
/// host memory at `linear &+ addend`. ``SoftTLB/slowPathFlag`` set in a tag means "translated
/// and allowed, but take the slow path" (MMIO, ROM writes, pages holding translated code, RAM
/// another dirty-tracking client watches); ``SoftTLB/invalidTag`` means "walk again".
/// Neither ever equals a page address, so a fast path is one compare.
public struct SoftTLBEntry: Sendable {
    public var readTag: UInt64
    public var writeTag: UInt64
    public var fetchTag: UInt64
    /// Host address minus linear address (wrapping).
    public var addend: UInt64

    static let empty = SoftTLBEntry(readTag: SoftTLB.invalidTag, writeTag: SoftTLB.invalidTag,
                                    fetchTag: SoftTLB.invalidTag, addend: 0)
}

/// A per-CPU software TLB: direct-mapped, 4 KiB granularity (a large page is entered one 4 KiB
/// piece at a time), one set of entries for supervisor accesses and one for user-mode
/// accesses, each entry with separate read, write and fetch tags.
///
/// The fast path (``hostAddress(_:size:kind:user:)``) gives a host pointer for RAM; everything
/// else returns `nil` and the caller takes ``SystemMMU``'s slow path, which walks the page
/// tables, fills the entry and sends MMIO, ROM writes and writes to code pages to the bus.
///
/// Flushes: everything (``flushAll()``), all but global entries (``flushNonGlobal()``, a CR3
/// load under CR4.PGE), one page (``flushPage(_:)``, INVLPG, which also drops every piece of a
/// large page containing it), the write fast path of one physical page
/// (``protectCodePage(_:)``), and everything when ``MemoryMapGeneration`` moved on
/// (``checkMemoryMap()``). Entries keep their RAM blocks alive, so a host pointer never
/// dangles before the flush.
///
/// Not `Sendable`: one vCPU thread owns it.
public final class SoftTLB {
    /// Entries per privilege view (a power of two).
    public static let entryCount = 256
    /// A tag that matches no page.
    public static let invalidTag: UInt64 = .max
    /// Set in a tag whose access must take the slow path.
    public static let slowPathFlag: UInt64 = 1

    /// `2 * entryCount` entries: supervisor view first, then user view.
    public let entries: UnsafeMutablePointer<SoftTLBEntry>

    /// Per entry: what the slow path needs.
    struct Info {
        var physicalPage: UInt64 = 0
        var global = false
        /// The linear base and size of the page (or large page) the entry is a piece of.
        var mappingBase: UInt64 = 0
        var mappingSize: UInt64 = 0
        var backingKind: PhysicalBacking.Kind = .unassigned
        var block: RAMBlock?
    }
    var info: [Info]
    /// Linear range covered by large-page entries since the last full flush ([low, high)).
    var largeLow: UInt64 = .max
    var largeHigh: UInt64 = 0
    /// The memory-map generation the entries were filled under.
    public private(set) var mapGeneration: UInt64

    /// Counts of flushes (for tests and statistics).
    public private(set) var fullFlushes = 0

    /// An empty TLB filled under the current memory-map generation.
    public init() {
        entries = .allocate(capacity: 2 * Self.entryCount)
        entries.initialize(repeating: .empty, count: 2 * Self.entryCount)
        info = Array(repeating: Info(), count: 2 * Self.entryCount)
        mapGeneration = MemoryMapGeneration.current
    }

    deinit {
        entries.deinitialize(count: 2 * Self.entryCount)
        entries.deallocate()
    }

    /// The entry index for `linear` in the supervisor (`user == false`) or user view.
    @inline(__always)
    public static func index(_ linear: UInt64, user: Bool) -> Int {
        Int(truncatingIfNeeded: (linear >> 12) & UInt64(entryCount - 1)) &+ (user ? entryCount : 0)
    }

    /// The fast path: the host address for `size` bytes at `linear` when an entry allows this
    /// access kind straight to host memory and the bytes do not cross a 4 KiB page; `nil`
    /// otherwise (take the slow path).
    @inline(__always)
    public func hostAddress(_ linear: UInt64, size: Int, kind: AccessKind, user: Bool) -> UnsafeMutableRawPointer? {
        guard Int(truncatingIfNeeded: linear & 0xFFF) &+ size <= 4096 else { return nil }
        let entry = entries[Self.index(linear, user: user)]
        let tag: UInt64
        switch kind {
        case .read: tag = entry.readTag
        case .write: tag = entry.writeTag
        case .fetch: tag = entry.fetchTag
        }
        guard tag == linear & ~0xFFF else { return nil }
        return UnsafeMutableRawPointer(bitPattern: UInt(truncatingIfNeeded: linear &+ entry.addend))
    }

    /// Whether the entry for `linear` holds a translation allowing `kind` (fast or slow).
    func hasTranslation(_ linear: UInt64, kind: AccessKind, user: Bool) -> Bool {
        let entry = entries[Self.index(linear, user: user)]
        let tag: UInt64
        switch kind {
        case .read: tag = entry.readTag
        case .write: tag = entry.writeTag
        case .fetch: tag = entry.fetchTag
        }
        return tag != Self.invalidTag && tag & ~Self.slowPathFlag == linear & ~0xFFF
    }

    /// Installs the translation of the 4 KiB page at `linearPage`. Each tag is the page
    /// address, the page address with ``slowPathFlag``, or ``invalidTag``.
    func install(linearPage: UInt64, user: Bool, readTag: UInt64, writeTag: UInt64, fetchTag: UInt64,
                 hostPage: UnsafeMutableRawPointer?, physicalPage: UInt64, global: Bool,
                 mappingBase: UInt64, mappingSize: UInt64, backing: PhysicalBacking.Kind, block: RAMBlock?) {
        let i = Self.index(linearPage, user: user)
        let addend = hostPage.map { UInt64(UInt(bitPattern: $0)) &- linearPage } ?? 0
        entries[i] = SoftTLBEntry(readTag: readTag, writeTag: writeTag, fetchTag: fetchTag, addend: addend)
        info[i] = Info(physicalPage: physicalPage, global: global, mappingBase: mappingBase,
                       mappingSize: mappingSize, backingKind: backing, block: block)
        if mappingSize > 4096 {
            largeLow = min(largeLow, mappingBase)
            largeHigh = max(largeHigh, mappingBase &+ mappingSize)
        }
    }

    private func clear(_ i: Int) {
        entries[i] = .empty
        info[i] = Info()
    }

    /// Drops every entry, global ones included.
    public func flushAll() {
        for i in 0..<(2 * Self.entryCount) { clear(i) }
        largeLow = .max
        largeHigh = 0
        fullFlushes += 1
    }

    /// Drops every entry that is not global (a CR3 load with CR4.PGE set, SDM §4.10.4.1).
    public func flushNonGlobal() {
        for i in 0..<(2 * Self.entryCount) where !info[i].global { clear(i) }
    }

    /// INVLPG: drops the entries for the page containing `linear` in both views, global or
    /// not; when a large page covered it, every piece of that large page.
    public func flushPage(_ linear: UInt64) {
        let page = linear & ~0xFFF
        for user in [false, true] {
            let i = Self.index(page, user: user)
            let entry = entries[i]
            if entry.readTag & ~Self.slowPathFlag == page || entry.writeTag & ~Self.slowPathFlag == page
                || entry.fetchTag & ~Self.slowPathFlag == page {
                clear(i)
            }
        }
        if linear >= largeLow && linear < largeHigh {
            for i in 0..<(2 * Self.entryCount) {
                let piece = info[i]
                if piece.mappingSize > 4096 && linear &- piece.mappingBase < piece.mappingSize { clear(i) }
            }
        }
    }

    /// Takes the write fast path away from every entry that maps `physicalPage` (4 KiB
    /// aligned), so stores to it reach the slow path (which notices translated code).
    public func protectCodePage(_ physicalPage: UInt64) {
        for i in 0..<(2 * Self.entryCount) where info[i].physicalPage == physicalPage {
            if entries[i].writeTag != Self.invalidTag { entries[i].writeTag = Self.invalidTag }
        }
    }

    /// Flushes everything when the memory map changed since the entries were filled. One
    /// atomic load when it did not. Call at block boundaries and after every MMIO or port
    /// write (which may have moved a region).
    @inline(__always)
    public func checkMemoryMap() {
        let current = MemoryMapGeneration.current
        if current != mapGeneration {
            flushAll()
            mapGeneration = current
        }
    }

    /// The slow-path information of the entry for `linear` (valid when ``hasTranslation``).
    func entryInfo(_ linear: UInt64, user: Bool) -> (entry: SoftTLBEntry, info: Info) {
        let i = Self.index(linear, user: user)
        return (entries[i], info[i])
    }
}
