import CEmuSystem
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// An ``EventLoop`` iterated by a dedicated host thread, for device back-end work that must not
/// wait on the main loop (block I/O, 9P, vhost-user sockets).
///
/// The thread starts in `init` and runs until ``stop()`` (or deinit), which joins it.
public final class IOThread: Sendable {
    /// The loop the thread runs.
    public let loop: EventLoop
    private let thread = Mutex<pthread_t?>(nil)

    /// Starts a thread named `name` (truncated to 15 bytes for the kernel) running a new loop.
    /// - Throws: ``SystemCallError`` if the thread cannot be created.
    public init(name: String) throws(SystemCallError) {
        let loop = EventLoop(name: name)
        self.loop = loop
        let body = Unmanaged.passRetained(ThreadBody {
            emu_set_thread_name(name)
            loop.run()
        })
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { argument in
            guard let argument else { return nil }
            Unmanaged<ThreadBody>.fromOpaque(argument).takeRetainedValue().body()
            return nil
        }, body.toOpaque())
        guard rc == 0 else {
            body.release()
            throw SystemCallError("pthread_create", errno: rc)
        }
        thread.withLock { $0 = tid }
    }

    /// Stops the loop and waits for the thread to end. Idempotent; must not be called from the
    /// thread itself (that would wait forever), where it only asks the loop to stop.
    public func stop() {
        let tid: pthread_t? = thread.withLock { thread in
            defer { thread = nil }
            return thread
        }
        guard let tid else { return }
        loop.stop()
        if pthread_equal(tid, pthread_self()) != 0 {
            pthread_detach(tid)
        } else {
            pthread_join(tid, nil)
        }
    }

    deinit { stop() }
}

private final class ThreadBody {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}
