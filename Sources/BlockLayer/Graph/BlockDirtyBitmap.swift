import Synchronization

/// Which parts of a node were written since a point in time, at a fixed granularity: the record a
/// mirror job keeps of guest writes made while it copies.
///
/// A node marks every bitmap attached to it (``BlockNode/addDirtyBitmap(_:)``) when a write,
/// discard or write-zeroes *finishes* (successfully or not), so a copier that clears a chunk
/// before reading it never misses a write: a write that finished before the clear is in what it
/// reads, and one that finishes after marks the chunk again. Thread-safe.
public final class BlockDirtyBitmap: Sendable {
    /// Bytes per bit (a power of two, at least 512).
    public let granularity: UInt64
    private let shift: UInt64
    private struct State {
        var words: [UInt64]
        var length: UInt64
        var dirtyChunks = 0
        var onDirty: (@Sendable () -> Void)?
    }
    private let state: Mutex<State>

    /// A clean bitmap covering `length` bytes. Throws `invalidArgument` unless `granularity` is a
    /// power of two of at least 512.
    public init(length: UInt64, granularity: UInt64) throws(BlockError) {
        guard granularity >= 512, granularity & (granularity - 1) == 0 else {
            throw .invalidArgument("dirty bitmap granularity \(granularity) is not a power of two of at least 512")
        }
        self.granularity = granularity
        shift = UInt64(granularity.trailingZeroBitCount)
        let chunks = (length + granularity - 1) >> shift
        state = Mutex(State(words: [UInt64](repeating: 0, count: Int((chunks + 63) / 64)), length: length))
    }

    /// Calls `body` (outside the lock) whenever a clean chunk becomes dirty.
    public func onDirty(_ body: (@Sendable () -> Void)?) {
        state.withLock { $0.onDirty = body }
    }

    /// Number of dirty chunks.
    public var dirtyChunks: Int { state.withLock { $0.dirtyChunks } }
    /// Dirty bytes (chunks times granularity, the last chunk counted whole).
    public var dirtyBytes: UInt64 { UInt64(dirtyChunks) * granularity }
    /// Whether nothing is dirty.
    public var isClean: Bool { dirtyChunks == 0 }

    /// Marks every chunk that `offset..<offset+length` touches (clamped to the bitmap's length).
    public func mark(offset: UInt64, length: UInt64) {
        guard length > 0 else { return }
        let notify: (@Sendable () -> Void)? = state.withLock { s in
            guard offset < s.length else { return nil }
            let end = offset + min(length, s.length - offset)
            var newlyDirty = false
            var chunk = offset >> shift
            let last = (end - 1) >> shift
            while chunk <= last {
                let (word, bit) = (Int(chunk / 64), chunk % 64)
                if s.words[word] & (1 << bit) == 0 {
                    s.words[word] |= 1 << bit
                    s.dirtyChunks += 1
                    newlyDirty = true
                }
                chunk += 1
            }
            return newlyDirty ? s.onDirty : nil
        }
        notify?()
    }

    /// Marks everything.
    public func markAll() {
        let length = state.withLock { $0.length }
        mark(offset: 0, length: length)
    }

    /// Whether any chunk touching the range is dirty.
    public func isDirty(offset: UInt64, length: UInt64) -> Bool {
        state.withLock { s in
            guard length > 0, offset < s.length else { return false }
            let end = offset + min(length, s.length - offset)
            for chunk in (offset >> shift)...((end - 1) >> shift) where s.words[Int(chunk / 64)] & (1 << (chunk % 64)) != 0 {
                return true
            }
            return false
        }
    }

    /// Finds the first dirty chunk at or after `from` (wrapping to the start), clears it and up to
    /// `maxChunks - 1` dirty chunks that directly follow, and returns the byte range they cover
    /// (clamped to the length); `nil` when clean.
    public func takeNextRun(from: UInt64 = 0, maxChunks: Int) -> Range<UInt64>? {
        state.withLock { s -> Range<UInt64>? in
            guard s.dirtyChunks > 0, maxChunks > 0 else { return nil }
            let chunks = (s.length + granularity - 1) >> shift
            let startChunk = min(from >> shift, chunks)
            var found: UInt64? = nil
            for pass in 0..<2 where found == nil {
                var chunk = pass == 0 ? startChunk : 0
                let stop = pass == 0 ? chunks : startChunk
                while chunk < stop {
                    let word = s.words[Int(chunk / 64)] >> (chunk % 64)
                    if word == 0 { chunk = (chunk / 64 + 1) * 64; continue }
                    chunk += UInt64(word.trailingZeroBitCount)
                    if chunk < stop { found = chunk }
                    break
                }
            }
            guard let first = found else { return nil }
            var end = first
            while end < chunks, end - first < UInt64(maxChunks), s.words[Int(end / 64)] & (1 << (end % 64)) != 0 {
                s.words[Int(end / 64)] &= ~(1 << (end % 64))
                s.dirtyChunks -= 1
                end += 1
            }
            return (first << shift)..<min(end << shift, s.length)
        }
    }
}
