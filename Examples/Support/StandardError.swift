#if canImport(Glibc)
import Glibc
#endif

/// Standard error for the programs in Examples/: every message goes straight to file descriptor
/// 2 with `write(2)`, unbuffered, so it is never held back or interleaved out of order with what
/// an emulated guest sharing the descriptor writes.
public struct StandardError: TextOutputStream {
    /// The stream (a value: it holds no state).
    public init() {}

    /// Writes `string` whole, retrying short writes and interrupted calls; gives up silently if
    /// the descriptor is closed or broken (there is nowhere left to report to).
    public mutating func write(_ string: String) {
        let bytes = Array(string.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes[done...].withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { return }
            done += n
        }
    }

    /// Prints `line` and a newline to standard error.
    public static func print(_ line: String) {
        var stream = StandardError()
        Swift.print(line, to: &stream)
    }

    /// Prints `program: message` to standard error: how every program reports an error.
    public static func report(_ message: String, program: String) {
        print("\(program): \(message)")
    }
}
