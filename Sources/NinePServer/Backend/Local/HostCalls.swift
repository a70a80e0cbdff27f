import CEmuSystem
#if canImport(Glibc)
import Glibc
#endif

/// Thin wrappers around the Linux calls the local back end makes: errno to ``NinePError``,
/// EINTR retried, and the flag values the Glibc module may not import.
///
/// Every call here is relative to a file descriptor; the only paths built are the
/// `/proc/self/fd/N` magic links of descriptors we hold (see ``procPath(_:)``).
enum Host {
    /// `O_PATH` (generic Linux value; Glibc only exports it under `_GNU_SOURCE`).
    static let openPath: Int32 = 0o10_000_000
    /// `AT_EMPTY_PATH`: operate on the descriptor itself.
    static let atEmptyPath: Int32 = 0x1000
    /// `AT_SYMLINK_NOFOLLOW`.
    static let atSymlinkNoFollow: Int32 = 0x100
    /// `AT_SYMLINK_FOLLOW` (linkat).
    static let atSymlinkFollow: Int32 = 0x400
    /// `AT_REMOVEDIR` (unlinkat; also the 9P Tunlinkat flag value).
    static let atRemoveDir: Int32 = 0x200
    /// `F_OFD_GETLK` / `F_OFD_SETLK`: locks owned by the open file description.
    static let ofdGetLock: Int32 = 36
    static let ofdSetLock: Int32 = 37

    /// Throws the current errno if `result` is negative.
    @discardableResult
    static func check(_ result: Int32) throws(NinePError) -> Int32 {
        if result < 0 { throw NinePError.current() }
        return result
    }

    /// Runs `call` again while it fails with EINTR; throws any other failure.
    @discardableResult
    static func retrying(_ call: () -> Int32) throws(NinePError) -> Int32 {
        while true {
            let result = call()
            if result >= 0 { return result }
            if errno != EINTR { throw NinePError.current() }
        }
    }

    /// The magic link that names exactly the inode `fd` refers to. Opening or changing
    /// it reaches that inode and nothing else (no name lookup that a rename could race);
    /// for an `O_PATH` fd of a symlink it names the symlink itself.
    static func procPath(_ fd: Int32) -> String { "/proc/self/fd/\(fd)" }

    /// `fstatat(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)`: works on `O_PATH` fds.
    static func stat(_ fd: Int32) throws(NinePError) -> stat {
        var st = Glibc.stat()
        try retrying { fstatat(fd, "", &st, atEmptyPath | atSymlinkNoFollow) }
        return st
    }

    /// `fstatat(directory, name, AT_SYMLINK_NOFOLLOW)`: never follows a symlink.
    static func stat(in directory: Int32, name: String) throws(NinePError) -> stat {
        var st = Glibc.stat()
        try retrying { fstatat(directory, name, &st, atSymlinkNoFollow) }
        return st
    }

    /// Closes `fd`, ignoring errors (Linux closes the fd even when close fails).
    static func close(_ fd: Int32) {
        if fd >= 0 { _ = Glibc.close(fd) }
    }

    /// The `S_IFMT` bits of a mode.
    static func fileType(_ mode: mode_t) -> mode_t { mode & S_IFMT }

    /// Whether a host file of this type may ever be opened for I/O (regular files and directories).
    static func isOpenable(_ mode: mode_t) -> Bool {
        let type = fileType(mode)
        return type == S_IFREG || type == S_IFDIR
    }
}

extension Host {
    /// What a read that must not wait for a disk got.
    enum CachedRead {
        /// Bytes read (0: end of file).
        case read(Int)
        /// Not all of it is in memory (EAGAIN), or the call failed: read it the ordinary way.
        case wouldWait
    }

    /// `RWF_NOWAIT`: fail with EAGAIN rather than wait for data that is not in memory.
    private static let readNoWait: Int32 = 0x8

    /// One `preadv2(…, RWF_NOWAIT)`: reads only what is already in the page cache, never
    /// waiting for a disk, so it may run on a thread that must not block.
    static func readWithoutWaiting(_ fd: Int32, into buffer: UnsafeMutableRawPointer, count: Int,
                                   at offset: off_t) -> CachedRead
    {
        while true {
            let n = emu_preadv2(fd, buffer, count, Int64(offset), readNoWait)
            if n >= 0 { return .read(n) }
            if errno != EINTR { return .wouldWait }
        }
    }
}

extension Host {
    /// What an open that must not wait for a disk got.
    enum CachedOpen {
        case opened(Int32)
        /// A definite answer from the caches: the name does not exist (a negative dentry).
        case notFound
        /// The lookup needs I/O or revalidation (EAGAIN), failed otherwise, or the kernel has no
        /// `openat2`/`RESOLVE_CACHED`: open it the ordinary way.
        case wouldWait
    }

    /// `RESOLVE_CACHED` (Linux 5.12): fail with EAGAIN unless every step is in the dentry cache.
    private static let resolveCached: UInt64 = 0x20

    /// `openat2(directory, name, flags, RESOLVE_CACHED)`: opens only if the lookup needs no I/O,
    /// so it may run on a thread that must not block.
    static func openCached(in directory: Int32, name: String, flags: Int32) -> CachedOpen {
        while true {
            let fd = name.withCString { emu_openat2(directory, $0, UInt64(UInt32(bitPattern: flags)), 0, resolveCached) }
            if fd >= 0 { return .opened(Int32(fd)) }
            switch errno {
            case EINTR: continue
            case ENOENT: return .notFound
            default: return .wouldWait
            }
        }
    }
}
