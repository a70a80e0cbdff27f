import CGLib

/// Something a ``GLibSource`` dispatches to. Called on the thread that iterates the loop.
protocol SourceDispatchTarget: AnyObject, Sendable {
    /// Called when the source's ready time passed or one of its fds has events.
    func dispatchSource()
}

/// A GLib `GSource` whose dispatch calls a Swift object.
///
/// The source is allocated with room for one pointer after the `GSource` header; that slot holds a
/// retained ``SourceSlot`` (a weak reference to the target) which `finalize` releases. GLib
/// dispatches the source when its ready time has passed or one of its unix fds has events, so no
/// `prepare`/`check` functions are needed (GLib ≥ 2.36). The target owns the ``GLibSource``; when
/// the target goes away, `deinit` destroys the source.
final class GLibSource: Sendable {
    /// The GSource. GLib's source API is thread-safe; the pointer stays valid until `deinit`
    /// drops our reference.
    nonisolated(unsafe) let raw: UnsafeMutablePointer<GSource>
    private let slot: SourceSlot

    /// Creates an unattached source; call ``attach(to:target:)`` once.
    init(name: String, priority: Int32 = 0) {
        let size = MemoryLayout<GSource>.stride + MemoryLayout<UnsafeMutableRawPointer>.stride
        // g_source_new aborts only on allocation failure, like every GLib allocation.
        let source = g_source_new(glibSourceFuncs, guint(size))!
        let slot = SourceSlot()
        UnsafeMutableRawPointer(source).advanced(by: MemoryLayout<GSource>.stride)
            .storeBytes(of: Unmanaged.passRetained(slot).toOpaque(), as: UnsafeMutableRawPointer.self)
        g_source_set_name(source, name)
        g_source_set_priority(source, gint(priority))
        g_source_set_can_recurse(source, 0)
        self.raw = source
        self.slot = slot
    }

    /// Binds the target and attaches the source to `context`. Call once, before any dispatch.
    func attach(to context: OpaquePointer, target: some SourceDispatchTarget) {
        slot.target = target
        _ = g_source_attach(raw, context)
    }

    /// Makes the source dispatch at the next iteration (from any thread; wakes the context).
    func setReady() { g_source_set_ready_time(raw, 0) }

    /// Makes the source dispatch once `micros` of g_get_monotonic_time's clock has passed.
    func setReady(atMonotonicMicros micros: Int64) { g_source_set_ready_time(raw, gint64(micros)) }

    /// Stops dispatches caused by the ready time (fd events still dispatch).
    func clearReady() { g_source_set_ready_time(raw, -1) }

    /// Adds a unix fd to poll for `events` (G_IO_* bits); returns the tag to modify or query it.
    func addFD(_ fd: Int32, events: UInt32) -> UnsafeMutableRawPointer? {
        g_source_add_unix_fd(raw, fd, GIOCondition(events))
    }

    /// Changes the events polled for `tag`; 0 polls nothing.
    func modifyFD(tag: UnsafeMutableRawPointer, events: UInt32) {
        g_source_modify_unix_fd(raw, tag, GIOCondition(events))
    }

    /// Stops polling the fd of `tag` (the tag is invalid afterwards).
    func removeFD(tag: UnsafeMutableRawPointer) {
        g_source_remove_unix_fd(raw, tag)
    }

    /// The events the last poll returned for `tag` (valid during dispatch).
    func queryFD(tag: UnsafeMutableRawPointer) -> UInt32 {
        g_source_query_unix_fd(raw, tag).rawValue
    }

    /// Removes the source from its context: once this returns on the loop's thread, no dispatch
    /// starts. Idempotent and thread-safe.
    func destroy() { g_source_destroy(raw) }

    deinit {
        g_source_destroy(raw)
        g_source_unref(raw)
    }
}

/// The weak link from a GSource back to its Swift target.
final class SourceSlot: Sendable {
    // Written once in `GLibSource.attach` before the source is attached (so before any dispatch
    // can read it), never written again: no concurrent access.
    nonisolated(unsafe) weak var target: (any SourceDispatchTarget)?
}

/// The function table shared by every ``GLibSource``. Immutable after initialisation.
nonisolated(unsafe) private let glibSourceFuncs: UnsafeMutablePointer<GSourceFuncs> = {
    let funcs = UnsafeMutablePointer<GSourceFuncs>.allocate(capacity: 1)
    funcs.initialize(to: GSourceFuncs(
        prepare: nil,
        check: nil,
        dispatch: { source, _, _ in
            guard let source else { return 1 }
            let opaque = UnsafeMutableRawPointer(source).advanced(by: MemoryLayout<GSource>.stride)
                .load(as: UnsafeMutableRawPointer.self)
            let target = Unmanaged<SourceSlot>.fromOpaque(opaque).takeUnretainedValue().target
            target?.dispatchSource()
            return 1 // G_SOURCE_CONTINUE: a source lives until its owner destroys it
        },
        finalize: { source in
            guard let source else { return }
            let opaque = UnsafeMutableRawPointer(source).advanced(by: MemoryLayout<GSource>.stride)
                .load(as: UnsafeMutableRawPointer.self)
            Unmanaged<SourceSlot>.fromOpaque(opaque).release()
        },
        closure_callback: nil,
        closure_marshal: nil))
    return funcs
}()
