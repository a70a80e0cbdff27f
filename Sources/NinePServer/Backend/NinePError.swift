#if canImport(Glibc)
import Glibc
#endif

/// A file-system error that reaches the client as an Rlerror carrying a Linux errno.
///
/// Back ends throw it for every refused operation. The engine answers anything else a back end
/// throws with EIO, except `CancellationError`, which means "cancelled by a Tflush before it
/// had any effect": no reply at all.
public struct NinePError: Error, Equatable, Hashable, Sendable, CustomStringConvertible {
    /// The Linux errno sent in the Rlerror.
    public let errno: Int32

    /// Creates an error with a Linux errno value.
    public init(errno: Int32) { self.errno = errno }

    /// The error of the calling thread's current `errno`.
    public static func current() -> NinePError { NinePError(errno: Glibc.errno) }

    public static let notFound = NinePError(errno: ENOENT)
    public static let permissionDenied = NinePError(errno: EACCES)
    public static let notPermitted = NinePError(errno: EPERM)
    public static let readOnly = NinePError(errno: EROFS)
    public static let invalid = NinePError(errno: EINVAL)
    public static let badFid = NinePError(errno: EBADF)
    public static let notDirectory = NinePError(errno: ENOTDIR)
    public static let isDirectory = NinePError(errno: EISDIR)
    public static let exists = NinePError(errno: EEXIST)
    public static let notSupported = NinePError(errno: EOPNOTSUPP)
    public static let io = NinePError(errno: EIO)
    public static let nameTooLong = NinePError(errno: ENAMETOOLONG)
    public static let loop = NinePError(errno: ELOOP)
    public static let crossDevice = NinePError(errno: EXDEV)

    public var description: String { "\(String(cString: strerror(errno))) (errno \(errno))" }
}
