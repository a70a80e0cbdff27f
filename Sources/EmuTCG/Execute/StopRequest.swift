import Synchronization

/// What asks running guest code to stop: the stop bit of the executor's mailbox
/// (`Executor.requestStop()`, any thread) and a word that something else, such as a host signal
/// handler, sets non-zero. The run loop looks at it between
/// blocks; long helpers (REP string operations) look at it between iterations, so a stop or a
/// signal never waits for a whole long instruction.
final class StopRequest {
    /// Its stop bit is set by `Executor.requestStop()` and cleared when the run loop honours it.
    let mailbox = ExecutorMailbox()
    /// Read, never written.
    var interruptWord: UnsafePointer<UInt64>?

    /// Whether a stop is pending (either source).
    @inline(__always) var isPending: Bool {
        if mailbox.attention.loadRelaxed() & ExecutorMailbox.stopBit != 0 { return true }
        if let word = interruptWord, word.pointee != 0 { return true }
        return false
    }
}
