/// What a device model implements so its backend can quiesce it (arrows point down: the block
/// layer declares this, the device layer conforms).
///
/// Both calls come from the task that begins or ends the outermost drained section, never while
/// the backend holds its lock, so an implementation may block briefly (e.g. EmuCore's
/// `beginDrained` waiting for its loop thread) and may submit to the backend (such requests wait
/// until the section ends).
public protocol BlockDrainObserver: AnyObject, Sendable {
    /// Stop taking new requests from the guest (turn external handlers off). Called before the
    /// backend waits for in-flight requests.
    func drainedBegin()
    /// Take requests from the guest again. Called after queued requests were resumed.
    func drainedEnd()
}
