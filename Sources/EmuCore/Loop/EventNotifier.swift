import CEmuSystem
#if canImport(Glibc)
import Glibc
#endif

/// A wake-up signal backed by a Linux eventfd: any thread or process holding the fd can
/// ``notify()``; the owner waits for it on an ``EventLoop`` or clears it with ``testAndClear()``.
///
/// The fd can be handed to another process (a vhost-user back end's kick or call fd). Signals
/// are counted by the kernel and never lost; ``testAndClear()`` consumes all pending ones at once.
public final class EventNotifier: Sendable {
    /// The eventfd (non-blocking, close-on-exec). Closed when the notifier is deallocated.
    public let fd: Int32

    /// Creates a notifier, optionally already signalled.
    /// - Throws: ``SystemCallError`` if the kernel refuses an eventfd (e.g. EMFILE).
    public init(signalled: Bool = false) throws(SystemCallError) {
        let fd = emu_eventfd(signalled ? 1 : 0)
        guard fd >= 0 else { throw SystemCallError.current("eventfd") }
        self.fd = fd
    }

    /// Signals the notifier. Thread-safe and async-signal-safe; never blocks.
    public func notify() {
        // Fails only when the 64-bit counter would overflow, which still leaves it signalled.
        _ = emu_eventfd_write(fd, 1)
    }

    /// Clears the notifier. Returns whether it was signalled.
    @discardableResult
    public func testAndClear() -> Bool {
        var value: UInt64 = 0
        return emu_eventfd_read(fd, &value) == 0 && value > 0
    }

    deinit { close(fd) }
}
