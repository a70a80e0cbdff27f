#if canImport(Glibc)
import Glibc
#endif

/// Translation of 9P2000.L open flags (P9_DOTL_*, the x86/generic Linux values) to the host's
/// open flags, keeping only a safe set.
///
/// Kept: the access mode, O_TRUNC, O_APPEND, O_DIRECTORY, O_DSYNC, O_SYNC (O_LARGEFILE is
/// implied on 64-bit hosts). Dropped: O_CREAT and O_EXCL (Tlopen never creates; Tlcreate adds
/// its own), O_NOCTTY, O_NONBLOCK, O_ASYNC, O_DIRECT (our buffers are not aligned), O_NOATIME,
/// O_CLOEXEC, O_PATH, O_TMPFILE, O_NOFOLLOW. The back end always adds O_CLOEXEC and never
/// follows symlinks.
enum OpenFlags {
    static let accessMode: UInt32 = 0o3
    static let truncate: UInt32 = 0o1000
    static let append: UInt32 = 0o2000
    static let dataSync: UInt32 = 0o10000
    static let directory: UInt32 = 0o200000
    static let sync: UInt32 = 0o4000000

    /// The host flags for a client's flags; throws EINVAL for access mode 3.
    static func host(_ flags: UInt32) throws(NinePError) -> Int32 {
        var result: Int32
        switch flags & accessMode {
        case 0: result = O_RDONLY
        case 1: result = O_WRONLY
        case 2: result = O_RDWR
        default: throw NinePError.invalid
        }
        if flags & truncate != 0 { result |= O_TRUNC }
        if flags & append != 0 { result |= O_APPEND }
        if flags & directory != 0 { result |= O_DIRECTORY }
        if flags & sync != 0 { result |= O_SYNC }
        if flags & dataSync != 0 { result |= O_DSYNC }
        return result
    }

    /// Whether the flags would let the file be changed (write access or truncation).
    static func modifies(_ flags: UInt32) -> Bool {
        flags & accessMode != 0 || flags & truncate != 0
    }
}
