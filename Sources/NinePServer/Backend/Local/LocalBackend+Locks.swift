#if canImport(Glibc)
import Glibc
#endif

/// Tlock and Tgetlock as open-file-description locks (`F_OFD_SETLK` / `F_OFD_GETLK`).
extension LocalBackend {
    private static let lockRead: UInt8 = 0
    private static let lockWrite: UInt8 = 1
    private static let lockUnlock: UInt8 = 2
    private static let statusSuccess: UInt8 = 0
    private static let statusBlocked: UInt8 = 1

    /// Takes or releases a lock without ever waiting: a conflict answers P9_LOCK_BLOCKED
    /// (for blocking requests too; Linux's v9fs retries). Bad types or ranges: EINVAL.
    public func lock(_ file: any OpenFile, _ request: LockRequest) async throws -> UInt8 {
        let file = try local(file)
        let request = try Self.hostLock(type: request.type, start: request.start, length: request.length)
        return try await pool.run {
            try file.withDescriptor { fd in
                var description = request
                while true {
                    if fcntl(fd, Host.ofdSetLock, &description) == 0 { return Self.statusSuccess }
                    switch errno {
                    case EINTR: continue
                    case EAGAIN, EACCES: return Self.statusBlocked
                    default: throw NinePError.current()
                    }
                }
            }
        }
    }

    /// The first lock (of another open file) that conflicts with `query`, or the query with
    /// type UNLCK. The holder of an OFD lock has no process id: processID 0, empty clientID.
    public func getlock(_ file: any OpenFile, _ query: LockQuery) async throws -> LockQuery {
        let file = try local(file)
        let request = try Self.hostLock(type: query.type, start: query.start, length: query.length)
        return try await pool.run {
            try file.withDescriptor { fd in
                var description = request
                try Host.retrying { fcntl(fd, Host.ofdGetLock, &description) }
                if description.l_type == Int16(F_UNLCK) {
                    return LockQuery(type: Self.lockUnlock, start: query.start, length: query.length,
                                     processID: query.processID, clientID: query.clientID)
                }
                return LockQuery(
                    type: description.l_type == Int16(F_WRLCK) ? Self.lockWrite : Self.lockRead,
                    start: UInt64(clamping: description.l_start), length: UInt64(clamping: description.l_len),
                    processID: description.l_pid > 0 ? UInt32(description.l_pid) : 0, clientID: "")
            }
        }
    }

    private static func hostLock(type: UInt8, start: UInt64, length: UInt64) throws(NinePError) -> flock {
        var description = flock()
        switch type {
        case lockRead: description.l_type = Int16(F_RDLCK)
        case lockWrite: description.l_type = Int16(F_WRLCK)
        case lockUnlock: description.l_type = Int16(F_UNLCK)
        default: throw NinePError.invalid
        }
        guard start <= UInt64(Int64.max), length <= UInt64(Int64.max) - start else { throw NinePError.invalid }
        description.l_whence = Int16(SEEK_SET)
        description.l_start = off_t(start)
        description.l_len = off_t(length)
        description.l_pid = 0
        return description
    }
}
