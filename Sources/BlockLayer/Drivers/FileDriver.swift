import CEmuSystem
#if canImport(Glibc)
import Glibc
#endif

/// The `file` protocol driver: a host file (or block device) through one file descriptor, its
/// blocking calls run on a ``BlockIOPool`` (this slice's thread-pool engine; libaio follows).
///
/// Guarantees: short reads and writes are continued and `EINTR` is retried; a read past the
/// host file's end (the file shrank under us) gives zeroes; flush is `fdatasync`; discard punches
/// a hole keeping the size; write-zeroes uses `FALLOC_FL_ZERO_RANGE` and falls back to punching a
/// hole, then to writing zeroes, where the file system lacks it. Failed host calls throw
/// ``BlockError/io(errno:operation:)``.
public final class FileDriver: BlockDriver {
    /// `file`.
    public let formatName = "file"
    /// Whether the file was opened read-only.
    public let isReadOnly: Bool
    /// The path it was opened from.
    public let path: String
    /// Whether ``flush()`` reaches the disk; false is qemu's `cache=unsafe` (for a scratch or
    /// conversion target whose loss in a host crash is acceptable).
    public let flushesToDisk: Bool
    private let fd: Int32
    private let pool: BlockIOPool

    private static let keepSize: Int32 = 0x01
    private static let punchHole: Int32 = 0x02
    private static let zeroRange: Int32 = 0x10

    /// Opens `path` (read-write unless `readOnly`; `create` makes a missing file, mode 0644;
    /// `flushesToDisk: false` makes ``flush()`` a no-op). Throws `io(errno:operation: "open")`.
    public init(path: String, readOnly: Bool = false, create: Bool = false, flushesToDisk: Bool = true,
                pool: BlockIOPool = .shared) throws(BlockError) {
        var flags = (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC
        if create && !readOnly { flags |= O_CREAT }
        let fd = open(path, flags, 0o644)
        if fd < 0 { throw .io(errno: errno, operation: "open") }
        self.fd = fd
        self.path = path
        self.isReadOnly = readOnly
        self.flushesToDisk = flushesToDisk
        self.pool = pool
    }

    deinit { close(fd) }

    /// The host file's size (`fstat`; for a block device `lseek(SEEK_END)`).
    public func length() async throws(BlockError) -> UInt64 {
        let fd = self.fd
        return try await pool.run { () -> Result<UInt64, BlockError> in
            var status = stat()
            if fstat(fd, &status) != 0 { return .failure(.io(errno: errno, operation: "fstat")) }
            if (status.st_mode & S_IFMT) == S_IFBLK {
                let end = lseek(fd, 0, SEEK_END)
                if end < 0 { return .failure(.io(errno: errno, operation: "lseek")) }
                return .success(UInt64(end))
            }
            return .success(UInt64(max(0, status.st_size)))
        }
    }

    /// `pread` until the buffer is full; zeroes past the host file's end.
    public func read(into buffer: BlockBuffer, at offset: UInt64) async throws(BlockError) {
        let fd = self.fd
        try await pool.run { () -> Result<Void, BlockError> in
            var done = 0
            while done < buffer.count {
                guard let base = buffer.bytes.baseAddress else { break }
                let got = pread(fd, base + done, buffer.count - done, off_t(offset) + off_t(done))
                if got < 0 {
                    if errno == EINTR { continue }
                    return .failure(.io(errno: errno, operation: "pread"))
                }
                if got == 0 {
                    UnsafeMutableRawBufferPointer(rebasing: buffer.bytes[done...]).initializeMemory(as: UInt8.self, repeating: 0)
                    break
                }
                done += got
            }
            return .success(())
        }
    }

    /// `pwrite` until the buffer is written.
    public func write(from buffer: BlockBuffer, at offset: UInt64) async throws(BlockError) {
        let fd = self.fd
        try await pool.run { () -> Result<Void, BlockError> in
            var done = 0
            while done < buffer.count {
                guard let base = buffer.bytes.baseAddress else { break }
                let put = pwrite(fd, base + done, buffer.count - done, off_t(offset) + off_t(done))
                if put < 0 {
                    if errno == EINTR { continue }
                    return .failure(.io(errno: errno, operation: "pwrite"))
                }
                if put == 0 { return .failure(.io(errno: EIO, operation: "pwrite")) }
                done += put
            }
            return .success(())
        }
    }

    /// `fdatasync` (nothing when opened with `flushesToDisk: false`).
    public func flush() async throws(BlockError) {
        if !flushesToDisk { return }
        let fd = self.fd
        try await pool.run { () -> Result<Void, BlockError> in
            while fdatasync(fd) != 0 {
                if errno != EINTR { return .failure(.io(errno: errno, operation: "fdatasync")) }
            }
            return .success(())
        }
    }

    /// Punches a hole (size kept). Throws `unsupported` if the file system cannot.
    public func discard(at offset: UInt64, length: UInt64) async throws(BlockError) {
        let fd = self.fd
        try await pool.run { () -> Result<Void, BlockError> in
            if Self.allocate(fd, Self.punchHole | Self.keepSize, offset, length) == 0 { return .success(()) }
            let code = errno
            if code == EOPNOTSUPP || code == ENOSYS { return .failure(.unsupported("discard: \(code)")) }
            return .failure(.io(errno: code, operation: "fallocate(PUNCH_HOLE)"))
        }
    }

    /// Zero range, else punch hole, else writes zeroes (in 1 MiB pieces).
    public func writeZeroes(at offset: UInt64, length: UInt64) async throws(BlockError) {
        let fd = self.fd
        try await pool.run { () -> Result<Void, BlockError> in
            if Self.allocate(fd, Self.zeroRange | Self.keepSize, offset, length) == 0 { return .success(()) }
            if errno != EOPNOTSUPP && errno != ENOSYS && errno != EINVAL {
                return .failure(.io(errno: errno, operation: "fallocate(ZERO_RANGE)"))
            }
            if Self.allocate(fd, Self.punchHole | Self.keepSize, offset, length) == 0 { return .success(()) }
            let zeroes = [UInt8](repeating: 0, count: 1 << 20)
            var done: UInt64 = 0
            while done < length {
                let piece = Int(min(UInt64(zeroes.count), length - done))
                let put = zeroes.withUnsafeBytes { pwrite(fd, $0.baseAddress, piece, off_t(offset + done)) }
                if put < 0 {
                    if errno == EINTR { continue }
                    return .failure(.io(errno: errno, operation: "pwrite"))
                }
                if put == 0 { return .failure(.io(errno: EIO, operation: "pwrite")) }
                done += UInt64(put)
            }
            return .success(())
        }
    }

    /// `ftruncate`.
    public func truncate(to length: UInt64) async throws(BlockError) {
        let fd = self.fd
        guard let size = off_t(exactly: length) else { throw .overflow(offset: length, length: 0) }
        try await pool.run { () -> Result<Void, BlockError> in
            while ftruncate(fd, size) != 0 {
                if errno != EINTR { return .failure(.io(errno: errno, operation: "ftruncate")) }
            }
            return .success(())
        }
    }

    /// fallocate(2) through CEmuSystem (Swift's Glibc module does not declare it), retried on EINTR.
    private static func allocate(_ fd: Int32, _ mode: Int32, _ offset: UInt64, _ length: UInt64) -> Int32 {
        guard offset <= UInt64(Int64.max), length <= UInt64(Int64.max) else {
            errno = EINVAL
            return -1
        }
        while true {
            let result = emu_fallocate(fd, mode, Int64(offset), Int64(length))
            if result == 0 || errno != EINTR { return result }
        }
    }
}
