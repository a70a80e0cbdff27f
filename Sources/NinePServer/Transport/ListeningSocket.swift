import EmuCore
#if canImport(Glibc)
import Glibc
#endif

/// A non-blocking listening stream socket (TCP or Unix).
struct ListeningSocket: ~Copyable {
    let fd: Int32
    /// The TCP port actually bound (0 for Unix sockets).
    let port: UInt16
    let unixPath: String?

    /// Creates, binds and listens.
    /// - Throws: ``SystemCallError`` (getaddrinfo failures are reported as call "getaddrinfo"
    ///   with errno EINVAL).
    init(_ address: NinePListenAddress) throws(SystemCallError) {
        switch address {
        case let .unix(path):
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
                throw SystemCallError("bind", errno: ENAMETOOLONG)
            }
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in
                raw.copyBytes(from: bytes)
                raw[bytes.count] = 0
            }
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw SystemCallError.current("socket") }
            unlink(path) // a stale socket file from an earlier run
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            guard rc == 0, listen(fd, 128) == 0 else {
                let error = SystemCallError.current("bind/listen")
                close(fd)
                throw error
            }
            self.fd = fd
            self.port = 0
            self.unixPath = path
        case let .tcp(host, port):
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            hints.ai_flags = AI_PASSIVE
            var result: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else {
                throw SystemCallError("getaddrinfo(\(host))", errno: EINVAL)
            }
            defer { freeaddrinfo(result) }
            let fd = socket(first.pointee.ai_family,
                            Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw SystemCallError.current("socket") }
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            guard bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0, listen(fd, 128) == 0 else {
                let error = SystemCallError.current("bind/listen")
                close(fd)
                throw error
            }
            var bound = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let boundPort: UInt16 = withUnsafeMutablePointer(to: &bound) { storage in
                _ = storage.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
                if Int32(storage.pointee.ss_family) == AF_INET6 {
                    return storage.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
                }
                return storage.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
            }
            self.fd = fd
            self.port = boundPort
            self.unixPath = nil
        }
    }

    /// Accepts one pending connection (non-blocking, close-on-exec), or nil when none is waiting.
    func accept() -> Int32? {
        // accept4 is not in Swift's Glibc module; set the flags right after instead (no fork
        // or exec happens between the two in this process's server thread).
        let client = Glibc.accept(fd, nil, nil)
        guard client >= 0 else { return nil }
        _ = fcntl(client, F_SETFD, FD_CLOEXEC)
        _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
        if unixPath == nil {
            // A reply larger than one segment would otherwise have its tail held back (Nagle)
            // until the client acknowledges the head: every frame goes out as soon as it is sent.
            var one: Int32 = 1
            _ = setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        return client
    }

    deinit {
        close(fd)
        if let unixPath { unlink(unixPath) }
    }
}
