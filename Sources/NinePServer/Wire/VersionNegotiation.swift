/// Why a Tversion was refused.
public enum NinePVersionError: Error, Hashable, Sendable {
    /// The client asked for 9P2000.L with an msize below the server's floor (4096). The
    /// server answers Rlerror with ``errno`` (EMSGSIZE), as QEMU does, and keeps no session.
    case msizeBelowFloor(clientMsize: UInt32, floor: UInt32)

    /// The Linux errno for the Rlerror answer: EMSGSIZE (90).
    public var errno: UInt32 { 90 }
}

extension NineP {
    /// The only protocol version this server speaks.
    public static let version9P2000L = "9P2000.L"
    /// The version string answered when the client's is not understood.
    public static let versionUnknown = "unknown"
    /// The smallest msize accepted (QEMU's P9_MIN_MSIZE; also the Linux client's minimum):
    /// big enough for any Twalk/Rreaddir of a maximal file name.
    public static let minimumMsize: UInt32 = 4096

    /// Negotiates a Tversion, as a pure function of the request and the server's ceiling.
    ///
    /// - The version answered is "9P2000.L" if the client sent exactly "9P2000.L", or
    ///   "9P2000.L." followed by anything (version(5): text after a period names an
    ///   extension the server may drop; QEMU and the Linux kernel only ever use the exact
    ///   string). Anything else, including "9P2000" and "9P2000.u", is answered "unknown".
    /// - The msize answered is min(clientMsize, ceiling), where a ceiling below the floor
    ///   is raised to the floor (4096) — a misconfiguration must not make every client fail.
    /// - An unknown version is answered without the msize check (QEMU does the same:
    ///   reporting the bad version takes priority).
    /// - Throws ``NinePVersionError/msizeBelowFloor(clientMsize:floor:)`` when the version
    ///   is understood but clientMsize < 4096; the server then sends Rlerror(EMSGSIZE).
    public static func negotiateVersion(
        clientMsize: UInt32, clientVersion: String, ceiling: UInt32
    ) throws(NinePVersionError) -> (msize: UInt32, version: String) {
        let msize = min(clientMsize, max(ceiling, minimumMsize))
        guard clientVersion == version9P2000L || clientVersion.hasPrefix(version9P2000L + ".") else {
            return (msize, versionUnknown)
        }
        guard clientMsize >= minimumMsize else {
            throw .msizeBelowFloor(clientMsize: clientMsize, floor: minimumMsize)
        }
        return (msize, version9P2000L)
    }
}
