import Synchronization

/// What other threads may ask of an `Executor`: stop at the next block boundary, or drop the
/// blocks of pages whose code changed. The executor reads one atomic word per block (the same
/// cost as a plain stop flag), so a single-threaded guest pays nothing more; the page list
/// behind the lock is only touched when code was written or remapped.
///
/// `Sendable`: the word is atomic and the page list a `Mutex`; the owning executor drains it on
/// its own thread.
public final class ExecutorMailbox: Sendable {
    static let stopBit: UInt8 = 1
    static let invalidationBit: UInt8 = 2

    /// Also read by the executor's generated code (its address is fixed).
    let attention = AttentionWord.create()
    let pages = Mutex<[UInt64]>([])

    /// An empty mailbox.
    public init() {}

    deinit { attention.destroy() }

    /// Asks the executor to return `.stopRequested` at the next block boundary.
    public func requestStop() {
        attention.set(Self.stopBit)
    }

    /// Tells the executor that guest page `page` no longer holds the code it translated.
    func post(invalidatedPage page: UInt64) {
        pages.withLock { $0.append(page) }
        attention.set(Self.invalidationBit)
    }

    /// Takes the posted pages (in order) and clears the invalidation bit.
    func takePages() -> [UInt64] {
        attention.clearAcquiring(Self.invalidationBit)
        return pages.withLock { list in
            let taken = list
            list.removeAll(keepingCapacity: true)
            return taken
        }
    }
}
