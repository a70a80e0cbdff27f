/// One L2 table in memory: its entries as native integers, and whether they differ from disk.
final class Qcow2L2Table {
    /// The table's host offset.
    let offset: UInt64
    var entries: [UInt64]
    var isDirty = false
    var lastUse: UInt64 = 0

    init(offset: UInt64, entries: [UInt64]) {
        self.offset = offset
        self.entries = entries
    }

    /// The table as it is stored (big-endian entries).
    var bytes: [UInt8] {
        var bytes = [UInt8](repeating: 0, count: entries.count * 8)
        for (index, entry) in entries.enumerated() { bytes.setBigEndian64(entry, at: index * 8) }
        return bytes
    }
}

/// The L2 tables of an open qcow2 image kept in memory, least recently used evicted first.
/// Capacity is counted in tables; the cache never evicts a dirty table itself: the caller
/// writes dirty tables back (in crash order) before making room (``needsRoom``).
///
/// Not thread-safe: used only by ``Qcow2Image`` under its lock.
struct Qcow2L2Cache {
    private(set) var tables: [UInt64: Qcow2L2Table] = [:]
    let capacity: Int
    private var clock: UInt64 = 0

    /// A cache of `capacity` tables (at least 4).
    init(capacity: Int) { self.capacity = max(4, capacity) }

    /// The cached table at `offset`, marked as just used.
    mutating func table(at offset: UInt64) -> Qcow2L2Table? {
        guard let table = tables[offset] else { return nil }
        clock += 1
        table.lastUse = clock
        return table
    }

    /// Whether inserting another table needs an eviction.
    var isFull: Bool { tables.count >= capacity }

    /// Whether the least recently used table is dirty (write back before ``insert(_:)``).
    var needsWriteBack: Bool { isFull && (leastRecentlyUsed?.isDirty ?? false) }

    private var leastRecentlyUsed: Qcow2L2Table? { tables.values.min { $0.lastUse < $1.lastUse } }

    /// Adds `table`, evicting the least recently used clean table if full.
    mutating func insert(_ table: Qcow2L2Table) {
        if isFull, let victim = tables.values.filter({ !$0.isDirty }).min(by: { $0.lastUse < $1.lastUse }) {
            tables[victim.offset] = nil
        }
        clock += 1
        table.lastUse = clock
        tables[table.offset] = table
    }

    /// Tables that must be written back.
    var dirtyTables: [Qcow2L2Table] { tables.values.filter(\.isDirty).sorted { $0.offset < $1.offset } }

    /// Forgets the table at `offset` (after its cluster was freed).
    mutating func remove(at offset: UInt64) { tables[offset] = nil }
}
