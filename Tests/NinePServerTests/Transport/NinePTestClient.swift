import Testing
@testable import NinePServer
#if canImport(Glibc)
import Glibc
#endif

/// A minimal blocking 9P client over a socket, for transport tests.
final class NinePTestClient {
    let fd: Int32
    private var pending: [UInt8] = []

    init(address: NinePListenAddress, port: UInt16) throws {
        switch address {
        case .tcp:
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = port.bigEndian
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            try #require(rc == 0, "connect: errno \(errno)")
        case let .unix(path):
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in
                let bytes = Array(path.utf8)
                raw.copyBytes(from: bytes)
                raw[bytes.count] = 0
            }
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            try #require(rc == 0, "connect: errno \(errno)")
        }
    }

    deinit { close(fd) }

    func sendRaw(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    func send(_ tag: UInt16, _ message: TMessage) throws {
        sendRaw(try NineP.encodeRequest(tag: tag, message))
    }

    /// The next reply, or nil on timeout or end of stream. Waits by sleeping between
    /// non-blocking polls, so a test never holds a cooperative thread the server's tasks need.
    func receive(timeoutMilliseconds: Int = 5000) async throws -> (UInt16, RMessage)? {
        for _ in 0..<timeoutMilliseconds {
            if pending.count >= 4 {
                let size = Int(pending[0]) | Int(pending[1]) << 8 | Int(pending[2]) << 16 | Int(pending[3]) << 24
                if pending.count >= size {
                    let frame = Array(pending[0..<size])
                    pending.removeFirst(size)
                    return try NineP.decodeReply(frame, msize: .max)
                }
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 0) == 1 else {
                try await Task.sleep(for: .milliseconds(1))
                continue
            }
            var buffer = [UInt8](repeating: 0, count: 65536)
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return nil }
            pending.append(contentsOf: buffer[0..<n])
        }
        return nil
    }

    /// Whether the server closed the connection (within the timeout).
    func isClosedByPeer(timeoutMilliseconds: Int = 5000) async -> Bool {
        for _ in 0..<timeoutMilliseconds {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, 0) == 1 {
                var byte: UInt8 = 0
                return recv(fd, &byte, 1, 0) == 0
            }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return false
    }
}
