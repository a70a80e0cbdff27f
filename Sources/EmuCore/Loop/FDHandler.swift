import Synchronization

/// A registered file-descriptor readiness handler; see ``EventLoop/addHandler(fd:events:kind:_:)``.
///
/// The handler runs on the loop's thread whenever the fd has one of the requested events (level
/// triggered: it runs again next iteration if the condition persists). A handler of kind
/// ``HandlerKind/external`` is not dispatched while a drained section is open.
public final class FDHandler: Sendable, SourceDispatchTarget {
    /// The fd being watched. The loop never closes it.
    public let fd: Int32
    /// Whether a drained section holds this handler back.
    public let kind: HandlerKind
    let source: GLibSource
    private weak let loop: EventLoop?
    private let handler: @Sendable (IOEvents) -> Void
    private let state: Mutex<State>

    private struct State {
        var events: IOEvents
        var removed = false
        /// GLib's handle of the fd in `source`; set while the fd is in the poll set.
        var tag: UnsafeMutableRawPointer?
    }

    init(loop: EventLoop, fd: Int32, events: IOEvents, kind: HandlerKind,
         handler: @escaping @Sendable (IOEvents) -> Void)
    {
        self.fd = fd
        self.kind = kind
        self.loop = loop
        self.handler = handler
        self.state = Mutex(State(events: events))
        self.source = GLibSource(name: "\(loop.name)/fd\(fd)")
        source.attach(to: loop.context, target: self)
    }

    /// The events this handler asks for.
    public var events: IOEvents { state.withLock { $0.events } }

    /// Changes the events asked for (e.g. add ``IOEvents/writable`` while output is queued).
    public func setEvents(_ events: IOEvents) {
        state.withLock { $0.events = events }
        updatePolling()
    }

    /// Stops watching the fd. Once this returns on the loop's thread the handler is not called
    /// again; from another thread, a call already in progress may still finish. Idempotent.
    public func remove() {
        let first = state.withLock { state in
            defer { state.removed = true }
            return !state.removed
        }
        guard first else { return }
        source.destroy()
        loop?.unregister(self)
    }

    /// Whether ``remove()`` was called.
    public var isRemoved: Bool { state.withLock { $0.removed } }

    /// Puts the fd in the poll set with the requested events, or takes it out while this handler
    /// is gated by a drained section or asks for nothing. (Out, not polled with an empty mask:
    /// poll reports hang-up and POLLNVAL whatever the mask, which would spin the loop.) Reads the
    /// drain depth under the handler's lock, so concurrent updates converge on the latest state.
    func updatePolling() {
        state.withLock { state in
            let gated = kind == .external && (loop?.isDrained ?? false)
            let polled = !state.removed && !gated && !state.events.isEmpty
            switch (polled, state.tag) {
            case (true, nil):
                state.tag = source.addFD(fd, events: state.events.rawValue)
            case (true, let tag?):
                source.modifyFD(tag: tag, events: state.events.rawValue)
            case (false, let tag?):
                source.removeFD(tag: tag)
                state.tag = nil
            case (false, nil):
                break
            }
        }
    }

    func dispatchSource() {
        if kind == .external, loop?.isDrained ?? false { return } // polled before the gate closed
        let (revents, wanted) = state.withLock { state -> (IOEvents, IOEvents) in
            guard !state.removed, let tag = state.tag else { return ([], []) }
            return (IOEvents(rawValue: source.queryFD(tag: tag)), state.events)
        }
        let relevant = revents.intersection(wanted.union([.error, .hangup, .invalid]))
        guard !relevant.isEmpty else { return }
        if relevant.contains(.invalid) {
            // A closed fd would report POLLNVAL on every poll: stop polling it, tell the owner once.
            state.withLock { $0.events = [] }
            updatePolling()
        }
        handler(relevant)
    }
}

extension EventLoop {
    /// Calls `handler` on the loop's thread whenever `fd` has one of `events`.
    ///
    /// - Parameters:
    ///   - fd: an open file descriptor; the loop never closes it. Remove the handler before
    ///     closing the fd (a closed fd is reported once as ``IOEvents/invalid`` and then ignored).
    ///   - events: the conditions to wait for; error and hang-up are always reported.
    ///   - kind: ``HandlerKind/external`` for guest-originated work, held back by drained sections.
    ///   - handler: receives the conditions that occurred.
    /// - Returns: the registration; it stays active until ``FDHandler/remove()`` or the loop ends.
    @discardableResult
    public func addHandler(fd: Int32, events: IOEvents = .readable, kind: HandlerKind = .internal,
                           _ handler: @escaping @Sendable (IOEvents) -> Void) -> FDHandler
    {
        let registration = FDHandler(loop: self, fd: fd, events: events, kind: kind, handler: handler)
        register(registration)
        return registration
    }

    /// Calls `handler` on the loop's thread each time `notifier` is signalled (consecutive
    /// signals before the handler runs are coalesced into one call). The notifier is cleared
    /// before `handler` runs, so a signal raised during the handler causes another call.
    @discardableResult
    public func addHandler(notifier: EventNotifier, kind: HandlerKind = .internal,
                           _ handler: @escaping @Sendable () -> Void) -> FDHandler
    {
        addHandler(fd: notifier.fd, events: .readable, kind: kind) { _ in
            if notifier.testAndClear() { handler() }
        }
    }
}
