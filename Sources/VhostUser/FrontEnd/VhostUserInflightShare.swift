#if canImport(Glibc)
import Glibc
#endif

/// The front end's hold on a back end's in-flight region (GET_INFLIGHT_FD): its description and
/// its fd, kept across reconnects and given back with SET_INFLIGHT_FD to every new back end, so
/// that a restarted back end finds the requests its predecessor took and did not finish. The
/// front end never reads the region; it only keeps it alive. The fd is closed on deinit.
public final class VhostUserInflightShare: Sendable {
    /// The region as the back end described it.
    public let description: VhostUserInflightDescription
    /// The region's fd (owned).
    public let fd: Int32

    /// Takes ownership of `fd`.
    public init(description: VhostUserInflightDescription, fd: Int32) {
        self.description = description
        self.fd = fd
    }

    deinit { close(fd) }
}
