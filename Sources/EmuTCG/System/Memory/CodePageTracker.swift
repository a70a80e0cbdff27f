import EmuCore

/// The guest-physical pages that hold translated code, and the two ways they get written:
/// CPU stores (``SystemMMU``'s write slow path, since ``SoftTLB/protectCodePage(_:)`` keeps
/// them off the fast path) and device DMA, which EmuCore records in the RAM blocks'
/// ``DirtyMemoryClient/code`` bitmaps and ``takeDeviceWrittenPages()`` collects.
///
/// Not `Sendable`: one vCPU thread (the one that translates) owns it.
public final class CodePageTracker {
    struct Location {
        let block: RAMBlock
        let offset: UInt64
    }
    struct ChunkKey: Hashable {
        let block: ObjectIdentifier
        let chunk: UInt64
    }
    struct Chunk {
        let block: RAMBlock
        /// Block page index → physical page address.
        var pages: [UInt64: UInt64]
    }
    /// Pages per dirty-bitmap word: the unit ``takeDeviceWrittenPages()`` looks at.
    static let chunkPages: UInt64 = 64

    private var pages: [UInt64: Location] = [:]
    private var chunks: [ChunkKey: Chunk] = [:]

    /// A tracker with no code pages.
    public init() {}

    /// How many physical pages are marked.
    public var count: Int { pages.count }

    /// Whether `physicalPage` (4 KiB aligned) holds translated code.
    public func isCode(_ physicalPage: UInt64) -> Bool { pages[physicalPage & ~0xFFF] != nil }

    /// Marks `physicalPage` as holding translated code before its bytes are read for
    /// translation: clears its `code` dirty bit (earlier writes are already in what will be
    /// read), so any later DMA write is seen. Returns `false` when the page is not RAM or ROM
    /// (code fetched from MMIO cannot be watched; the executor must not keep such blocks).
    @discardableResult
    public func markCode(_ physicalPage: UInt64, backing: PhysicalBacking) -> Bool {
        let page = physicalPage & ~0xFFF
        if pages[page] != nil { return true }
        guard backing.kind == .ram || backing.kind == .rom, let block = backing.block,
              backing.blockOffset % 4096 == 0, backing.extent >= 4096 else { return false }
        if !block.isTrackingDirty(.code) { block.startDirtyTracking(.code) }
        _ = block.testAndClearDirty(.code, offset: backing.blockOffset, length: 4096)
        pages[page] = Location(block: block, offset: backing.blockOffset)
        let blockPage = backing.blockOffset >> 12
        let key = ChunkKey(block: ObjectIdentifier(block), chunk: blockPage / Self.chunkPages)
        chunks[key, default: Chunk(block: block, pages: [:])].pages[blockPage] = page
        return true
    }

    /// Forgets `physicalPage` (its translated code was dropped).
    public func release(_ physicalPage: UInt64) {
        let page = physicalPage & ~0xFFF
        guard let location = pages.removeValue(forKey: page) else { return }
        let blockPage = location.offset >> 12
        let key = ChunkKey(block: ObjectIdentifier(location.block), chunk: blockPage / Self.chunkPages)
        chunks[key]?.pages[blockPage] = nil
        if chunks[key]?.pages.isEmpty == true { chunks[key] = nil }
    }

    /// The code pages written since they were marked by anything that marks RAM dirty
    /// (device DMA, host writes, the CPU's own slow-path stores), and forgets them: their
    /// translated code must be dropped. Costs one bitmap test per 64-page chunk holding code.
    public func takeDeviceWrittenPages() -> [UInt64] {
        var written: [UInt64] = []
        let length = Self.chunkPages * 4096
        for (key, chunk) in chunks {
            let start = key.chunk * length
            guard chunk.block.isDirty(.code, offset: start, length: length) else { continue }
            for blockPage in chunk.block.testAndClearDirty(.code, offset: start, length: length) {
                if let page = chunk.pages[blockPage] { written.append(page) }
            }
        }
        for page in written { release(page) }
        return written
    }
}
