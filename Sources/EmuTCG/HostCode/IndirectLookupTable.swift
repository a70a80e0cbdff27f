/// The table generated code probes at an indirect jump, call or return: direct-mapped by guest
/// PC, each entry (guest PC, translation mode, host address of the block's code, unused). An
/// indirect exit hashes its actual target PC, compares it and the current mode with the entry,
/// and on a match jumps to the entry's host address; otherwise it returns to the run loop, which
/// finds or translates the block and fills the entry. Nothing is predicted: a return goes where
/// the guest's stack says, whatever call it pairs with.
///
/// No entry ever points at freed or retranslated code, because:
/// - only the run loop writes entries, between blocks (no host code on the stack), and only with
///   the entry of a block that is in the executor's block cache at that moment;
/// - a block leaves the cache only through `Executor.invalidate(page:)` or `invalidateAll()`,
///   which drop its entry (or every entry) before anything runs again;
/// - the code buffer is emptied (flush, fork renewal) only after `invalidateAll()`, and
///   `HostCodeCache.reset()` clears the table again itself;
/// - a code change posted by a store (this thread's or another's) sets the mailbox's attention
///   byte, and the probe looks at that byte first and returns to the run loop while it is set,
///   so the loop drops the changed page's blocks (and their entries) before any probe can use
///   one of them.
///
/// Not `Sendable`: it lives in one executor's run context.
struct IndirectLookupTable {
    /// Entries (a power of two).
    static let entryCount = 4096
    /// Words per entry: PC, mode, host address, unused (32 bytes, so an index is a shift).
    static let entryWords = 4
    /// A mode no executor runs in: an empty entry never matches.
    static let emptyMode = UInt64.max

    /// The first entry's first word.
    let entries: UnsafeMutablePointer<UInt64>

    /// The entry index of `pc`; generated code computes the same: `(pc ^ (pc >> 12)) & (count - 1)`.
    static func index(of pc: UInt64) -> Int {
        Int(truncatingIfNeeded: (pc ^ (pc >> 12)) & UInt64(entryCount - 1))
    }

    /// Records that the block at guest `pc` in `mode` starts at host `address`.
    func fill(pc: UInt64, mode: UInt64, address: UInt) {
        let e = entries + Self.index(of: pc) * Self.entryWords
        e[0] = pc
        e[1] = mode
        e[2] = UInt64(address)
    }

    /// Empties the entry of guest `pc` when it is that PC's (under any mode).
    func drop(pc: UInt64) {
        let e = entries + Self.index(of: pc) * Self.entryWords
        if e[0] == pc { empty(e) }
    }

    /// Empties every entry.
    func clear() {
        for i in 0..<Self.entryCount { empty(entries + i * Self.entryWords) }
    }

    /// The host address recorded for (`pc`, `mode`), or nil.
    func lookup(pc: UInt64, mode: UInt64) -> UInt? {
        let e = entries + Self.index(of: pc) * Self.entryWords
        guard e[0] == pc, e[1] == mode else { return nil }
        return UInt(e[2])
    }

    private func empty(_ e: UnsafeMutablePointer<UInt64>) {
        e[0] = .max
        e[1] = Self.emptyMode
        e[2] = 0
        e[3] = 0
    }
}
