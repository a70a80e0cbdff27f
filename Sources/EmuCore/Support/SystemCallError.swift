#if canImport(Glibc)
import Glibc
#endif

/// A failed host system call: which call, and the `errno` it left.
public struct SystemCallError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The call that failed, e.g. `"memfd_create"`.
    public let call: String
    /// The `errno` value the call left.
    public let errno: Int32

    /// Creates an error for `call` with an explicit errno value.
    public init(_ call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    /// Creates an error for `call` from the thread's current `errno`.
    public static func current(_ call: String) -> SystemCallError {
        SystemCallError(call, errno: Glibc.errno)
    }

    public var description: String {
        "\(call): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}
