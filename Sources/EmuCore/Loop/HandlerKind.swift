/// Whether a loop handler's work may originate from the guest.
///
/// While a drained section is open on a loop (``EventLoop/beginDrained()``), handlers registered as
/// ``external`` are not dispatched; ``internal`` handlers, timers and bottom halves still are.
public enum HandlerKind: Sendable, Equatable {
    /// Work the host itself started (I/O completions, timers of the host, control sockets).
    case `internal`
    /// Work a guest can start, such as a virtqueue kick. Held back during drained sections.
    case external
}
