import CEmuSystem
import EmuCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A connected Unix stream socket that carries vhost-user messages and file descriptors
/// (SCM_RIGHTS). Owns its fd: ``close()`` shuts it down (waking a thread blocked on it) and
/// deinit closes it.
///
/// Sending and receiving may happen on different threads, but two threads must not send (or
/// receive) at once: ``VhostUserConnection`` and ``VhostUserBackEnd`` serialise their use.
public final class VhostUserSocket: Sendable {
    /// The socket's fd (valid until deinit).
    public let fd: Int32
    private let shut = Atomic<Bool>(false)

    /// The most descriptors one message carries (a memory table's 8; we allow a margin).
    public static let maximumDescriptors = 16

    /// Takes ownership of a connected stream socket.
    public init(adopting fd: Int32) { self.fd = fd }

    /// Connects to a back end listening at `path`.
    /// - Throws: ``VhostUserError/system(_:)`` (ENOENT, ECONNREFUSED, a path too long: ENAMETOOLONG).
    public static func connect(path: String) throws(VhostUserError) -> VhostUserSocket {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .system(.current("socket")) }
        let sock = VhostUserSocket(adopting: fd)
        let rc = try withSocketAddress(path) { address, length in Glibc.connect(fd, address, length) }
        guard rc == 0 else { throw .system(.current("connect \(path)")) }
        return sock
    }

    /// Calls `body` with a `sockaddr_un` for `path`.
    static func withSocketAddress(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) throws(VhostUserError) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else { throw .system(SystemCallError("socket path", errno: ENAMETOOLONG)) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        return withUnsafePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    /// Shuts the socket down in both directions: a blocked receive returns end-of-stream, later
    /// sends fail with ``VhostUserError/disconnected``. Idempotent.
    public func close() {
        if !shut.exchange(true, ordering: .acquiringAndReleasing) { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    /// Whether ``close()`` was called.
    public var isClosed: Bool { shut.load(ordering: .acquiring) }

    deinit { Glibc.close(fd) }

    /// Sends `message` with `descriptors` (sent with its first bytes). Blocks until everything
    /// is written.
    /// - Throws: ``VhostUserError/disconnected`` (EPIPE, ECONNRESET, closed), ``VhostUserError/system(_:)``.
    public func send(_ message: VhostUserMessage, descriptors: [Int32] = []) throws(VhostUserError) {
        guard !isClosed else { throw .disconnected }
        guard descriptors.count <= Self.maximumDescriptors else { throw .unexpectedDescriptors(descriptors.count) }
        let bytes = message.encoded()
        var sent = 0
        while sent < bytes.count {
            let fds = sent == 0 ? descriptors : []
            let n = bytes.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }  // never: a header is 12 bytes
                return fds.withUnsafeBufferPointer { f in
                    emu_send_with_fds(fd, base + sent, raw.count - sent, f.baseAddress, Int32(f.count))
                }
            }
            if n < 0 {
                let e = errno
                if e == EPIPE || e == ECONNRESET || e == ENOTCONN { throw .disconnected }
                throw .system(SystemCallError("sendmsg", errno: e))
            }
            sent += n
        }
    }

    /// Receives one message and the descriptors sent with it (the caller owns and must close
    /// them), waiting at most `timeout` (`nil`: forever) for it to be complete.
    /// - Throws: ``VhostUserError/disconnected`` at end of stream, ``VhostUserError/timedOut(_:)``
    ///   with `waitingFor` when the time is up, ``VhostUserError/payloadTooLarge(_:)`` for a
    ///   hostile size, ``VhostUserError/unexpectedDescriptors(_:)`` when control data was cut off
    ///   (the descriptors that did arrive are closed), ``VhostUserError/system(_:)``.
    public func receive(timeout: Duration?, waitingFor: VhostUserRequest = .getFeatures) throws(VhostUserError) -> (VhostUserMessage, [Int32]) {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        var fds: [Int32] = []
        var ok = false
        defer { if !ok { fds.forEach { _ = Glibc.close($0) } } }
        let headerBytes = try read(count: VhostUserMessage.headerSize, deadline: deadline, waitingFor: waitingFor, fds: &fds)
        let header = try VhostUserMessage.decodeHeader(headerBytes)
        let payload = try read(count: Int(header.size), deadline: deadline, waitingFor: waitingFor, fds: &fds)
        ok = true
        return (VhostUserMessage(rawRequest: header.request, flags: header.flags, payload: payload), fds)
    }

    private func read(count: Int, deadline: ContinuousClock.Instant?, waitingFor: VhostUserRequest,
                      fds: inout [Int32]) throws(VhostUserError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            try waitReadable(deadline: deadline, waitingFor: waitingFor)
            var received = [Int32](repeating: -1, count: Self.maximumDescriptors)
            var receivedCount: Int32 = 0
            var truncated: Int32 = 0
            let n = buffer.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }  // never: count > 0 here
                return received.withUnsafeMutableBufferPointer { f in
                    emu_recv_with_fds(fd, base + got, count - got, f.baseAddress, Int32(f.count),
                                      &receivedCount, &truncated)
                }
            }
            if n < 0 {
                let e = errno
                if e == EAGAIN || e == EINTR { continue }
                if e == ECONNRESET { throw .disconnected }
                throw .system(SystemCallError("recvmsg", errno: e))
            }
            fds += received.prefix(Int(receivedCount))
            if truncated != 0 || fds.count > Self.maximumDescriptors { throw .unexpectedDescriptors(fds.count) }
            if n == 0 { throw .disconnected }
            got += n
        }
        return buffer
    }

    private func waitReadable(deadline: ContinuousClock.Instant?, waitingFor: VhostUserRequest) throws(VhostUserError) {
        while true {
            guard !isClosed else { throw .disconnected }
            var milliseconds: Int32 = -1
            if let deadline {
                let left = deadline - ContinuousClock.now
                if left <= .zero { throw .timedOut(waitingFor) }
                let c = left.components
                milliseconds = Int32(clamping: c.seconds * 1000 + c.attoseconds / 1_000_000_000_000_000 + 1)
            }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let rc = poll(&p, 1, milliseconds)
            if rc > 0 { return }
            if rc < 0 && errno != EINTR { throw .system(.current("poll")) }
        }
    }
}
