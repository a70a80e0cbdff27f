#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` on a new detached thread (for work that blocks, such as waiting for a back end to
/// come back, which must stay off event-loop threads and the cooperative pool).
func detachThread(name: String, _ body: @escaping @Sendable () -> Void) {
    final class Box: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let box = Unmanaged.passRetained(Box(body))
    var tid = pthread_t()
    let rc = pthread_create(&tid, nil, { argument in
        guard let argument else { return nil }
        Unmanaged<Box>.fromOpaque(argument).takeRetainedValue().body()
        return nil
    }, box.toOpaque())
    if rc == 0 {
        pthread_detach(tid)
    } else {
        box.takeRetainedValue().body()  // no thread to be had: run it here rather than lose it
    }
}

/// Sleeps the calling (non-cooperative) thread for `duration`.
func sleepThread(_ duration: Duration) {
    let c = duration.components
    var ts = timespec(tv_sec: Int(c.seconds), tv_nsec: Int(c.attoseconds / 1_000_000_000))
    var left = timespec()
    while nanosleep(&ts, &left) != 0 && errno == EINTR { ts = left }
}
