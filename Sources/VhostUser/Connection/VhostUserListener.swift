import EmuCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A listening Unix socket for a back end: binds `path` (removing a stale socket file first)
/// and accepts front ends. The socket file is removed when the listener is closed.
public final class VhostUserListener: Sendable {
    /// The listening fd.
    public let fd: Int32
    /// The socket's path.
    public let path: String
    private let closed = Atomic<Bool>(false)

    /// Binds and listens on `path`.
    /// - Throws: ``VhostUserError/system(_:)``.
    public init(path: String) throws(VhostUserError) {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .system(.current("socket")) }
        unlink(path)
        do throws(VhostUserError) {
            let rc = try VhostUserSocket.withSocketAddress(path) { a, l in bind(fd, a, l) }
            guard rc == 0 else { throw VhostUserError.system(.current("bind \(path)")) }
            guard listen(fd, 4) == 0 else { throw VhostUserError.system(.current("listen")) }
        } catch {
            Glibc.close(fd)
            throw error
        }
        self.fd = fd
        self.path = path
    }

    /// Waits up to `timeout` (`nil`: forever) for a front end and returns its connection.
    /// - Throws: ``VhostUserError/timedOut(_:)`` (naming GET_FEATURES, the first request a front
    ///   end sends), ``VhostUserError/disconnected`` once closed, ``VhostUserError/system(_:)``.
    public func accept(timeout: Duration?) throws(VhostUserError) -> VhostUserSocket {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while true {
            guard !closed.load(ordering: .acquiring) else { throw .disconnected }
            var ms: Int32 = 100
            if let deadline {
                let left = deadline - ContinuousClock.now
                if left <= .zero { throw .timedOut(.getFeatures) }
                ms = min(ms, Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1))
            }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let rc = poll(&p, 1, ms)
            if rc < 0 && errno != EINTR { throw .system(.current("poll")) }
            guard rc > 0 else { continue }
            let client = Glibc.accept(fd, nil, nil)
            if client >= 0 {
                _ = fcntl(client, F_SETFD, FD_CLOEXEC)
                return VhostUserSocket(adopting: client)
            }
            if errno != EAGAIN && errno != EINTR && errno != ECONNABORTED { throw .system(.current("accept")) }
        }
    }

    /// Stops listening and removes the socket file. Idempotent.
    public func close() {
        if !closed.exchange(true, ordering: .acquiringAndReleasing) { unlink(path) }
    }

    deinit {
        close()
        Glibc.close(fd)
    }
}
