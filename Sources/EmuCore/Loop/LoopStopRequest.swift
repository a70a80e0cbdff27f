import CGLib
import Synchronization

/// A loop's stop request, kept as state that every iteration of the loop's context looks at, so
/// that no interleaving of threads can lose it (see ``EventLoop/stop()``).
///
/// Why a flag plus `g_main_context_wakeup` is not enough: GLib's wake-up is one sticky signal
/// (an eventfd) that the next iteration *of the context* acknowledges in its check phase, whichever
/// thread runs that iteration. If `run()` looks at the flag (not yet set), and before its thread
/// polls, another thread iterates the same context (``EventLoop/iterate(blocking:)``,
/// ``EventLoop/run(timeout:until:)``) while the stop is raised, that iteration takes the wake-up;
/// `run()` then polls with an infinite timeout and the flag set, and an `IOThread.stop()` never joins.
///
/// Here the request is also a GLib source whose `prepare` and `check` report it ready while it is
/// raised and a `run()` is active, so such an iteration never blocks. The argument that nothing
/// is lost, for a stop raised at time S (flag stored, then the wake-up signalled):
/// - GLib computes an iteration's poll timeout from its sources' `prepare`, under context
///   ownership; only the owner polls and only the owner acknowledges the wake-up, after its poll.
/// - An iteration of the runner's thread whose `prepare` came after S does not block.
/// - One whose `prepare` came before S owns the context until it returns, so no other thread can
///   acknowledge the wake-up meanwhile: its poll returns because of the wake-up (or earlier).
/// - Another thread's iteration may acknowledge the wake-up; the runner's next iteration then
///   starts after that one released the context, so after S, and does not block.
/// In every case the runner's iteration returns, and `run()` takes the request before iterating
/// again. The request stays raised until a `run()` takes it: iterations of other threads leave it.
final class LoopStopRequest: Sendable {
    private let state: StopState
    /// The GSource. GLib's source API is thread-safe; we hold a reference until `deinit`.
    nonisolated(unsafe) private let source: UnsafeMutablePointer<GSource>

    /// Creates the request's source and attaches it to `context` (at default priority: a
    /// pending stop does not hold back other ready work in the iteration that sees it).
    init(context: OpaquePointer) {
        let state = StopState()
        let size = MemoryLayout<GSource>.stride + MemoryLayout<UnsafeMutableRawPointer>.stride
        // g_source_new aborts only on allocation failure, like every GLib allocation.
        let source = g_source_new(stopSourceFuncs, guint(size))!
        UnsafeMutableRawPointer(source).advanced(by: MemoryLayout<GSource>.stride)
            .storeBytes(of: Unmanaged.passRetained(state).toOpaque(), as: UnsafeMutableRawPointer.self)
        g_source_set_name(source, "stop")
        g_source_set_can_recurse(source, 0)
        _ = g_source_attach(source, context)
        self.state = state
        self.source = source
    }

    /// Detaches the source from its context (idempotent).
    func destroy() { g_source_destroy(source) }

    deinit {
        g_source_destroy(source)
        g_source_unref(source)
    }

    /// Raises the request. The caller then wakes the context.
    func raise() { state.raised.store(true, ordering: .releasing) }

    /// Takes the request if it is raised; returns whether it was.
    func take() -> Bool {
        state.raised.compareExchange(expected: true, desired: false, ordering: .acquiringAndReleasing).exchanged
    }

    /// Marks a `run()` as active (while it is, a raised request makes every iteration non-blocking).
    func runStarted() { state.runners.add(1, ordering: .acquiringAndReleasing) }

    /// Marks a `run()` as returned.
    func runEnded() { state.runners.subtract(1, ordering: .acquiringAndReleasing) }
}

/// The part of the request the GSource's functions read; retained by the source's slot.
private final class StopState: Sendable {
    let raised = Atomic<Bool>(false)
    let runners = Atomic<Int>(0)

    /// Whether an iteration must not block: a stop is raised and a `run()` will take it. With no
    /// `run()` active the request just waits for one, and iterations behave as usual.
    var isReady: Bool {
        raised.load(ordering: .acquiring) && runners.load(ordering: .acquiring) > 0
    }
}

private func stopState(_ source: UnsafeMutablePointer<GSource>) -> StopState {
    let opaque = UnsafeMutableRawPointer(source).advanced(by: MemoryLayout<GSource>.stride)
        .load(as: UnsafeMutableRawPointer.self)
    return Unmanaged<StopState>.fromOpaque(opaque).takeUnretainedValue()
}

/// The stop source's functions. Immutable after initialisation.
nonisolated(unsafe) private let stopSourceFuncs: UnsafeMutablePointer<GSourceFuncs> = {
    let funcs = UnsafeMutablePointer<GSourceFuncs>.allocate(capacity: 1)
    funcs.initialize(to: GSourceFuncs(
        prepare: { source, timeout in
            timeout?.pointee = -1  // no opinion on the timeout unless ready (then GLib uses 0)
            guard let source else { return 0 }
            return stopState(source).isReady ? 1 : 0
        },
        check: { source in
            guard let source else { return 0 }
            return stopState(source).isReady ? 1 : 0
        },
        dispatch: { _, _, _ in
            1 // G_SOURCE_CONTINUE: `run()` takes the request between iterations; nothing to do here
        },
        finalize: { source in
            guard let source else { return }
            let opaque = UnsafeMutableRawPointer(source).advanced(by: MemoryLayout<GSource>.stride)
                .load(as: UnsafeMutableRawPointer.self)
            Unmanaged<StopState>.fromOpaque(opaque).release()
        },
        closure_callback: nil,
        closure_marshal: nil))
    return funcs
}()
