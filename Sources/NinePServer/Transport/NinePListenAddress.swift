/// Where a ``NinePSocketServer`` listens.
public enum NinePListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// A TCP port on a host address (a numeric IPv4/IPv6 address or a name such as
    /// "localhost"); port 0 picks a free port (see ``NinePSocketServer/boundPort``).
    case tcp(host: String, port: UInt16)
    /// A Unix stream socket at a path (an existing socket file there is replaced).
    case unix(path: String)

    /// Parses `tcp:HOST:PORT` or `unix:PATH` (the `emu-9p --listen` syntax). IPv6 hosts go in
    /// brackets: `tcp:[::1]:5640`.
    public init?(parsing text: String) {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty else { return nil }
            self = .unix(path: path)
            return
        }
        guard text.hasPrefix("tcp:") else { return nil }
        let rest = text.dropFirst(4)
        guard let colon = rest.lastIndex(of: ":"), let port = UInt16(rest[rest.index(after: colon)...]) else {
            return nil
        }
        var host = String(rest[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self = .tcp(host: host, port: port)
    }

    public var description: String {
        switch self {
        case let .tcp(host, port): host.contains(":") ? "tcp:[\(host)]:\(port)" : "tcp:\(host):\(port)"
        case let .unix(path): "unix:\(path)"
        }
    }
}
