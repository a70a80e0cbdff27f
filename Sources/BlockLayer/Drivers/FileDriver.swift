import CEmuSystem
#if canImport(Glibc)
import Glibc
#endif

/// The `file` protocol driver: a host file (or block device) through one file descriptor. Reads
/// and writes go through one of two engines: the thread pool (blocking calls on a
/// ``BlockIOPool``) or Linux native AIO (``LinuxAIOEngine``, completions on an event loop); the
/// other calls always use the pool.
///
/// With `direct` the file is opened `O_DIRECT` (no host page cache). Requests whose offset,
/// length or buffer address are not multiples of ``directAlignment`` are padded: reads go through
/// an aligned bounce buffer; writes read the covering aligned blocks, patch them and write them
/// back, holding those blocks against every other write meanwhile, so no write is lost to a
/// concurrent read-modify-write. Callers need not know about alignment.
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
    /// Whether the file was opened `O_DIRECT`.
    public let direct: Bool
    /// The alignment `O_DIRECT` requests are padded to (4 KiB: enough for 512-byte and 4 KiB
    /// logical blocks).
    public static let directAlignment = 4096
    private let fd: Int32
    private let pool: BlockIOPool
    private let aio: LinuxAIOEngine?
    private let writeRanges = BlockRangeLock()

    private static let keepSize: Int32 = 0x01
    private static let punchHole: Int32 = 0x02
    private static let zeroRange: Int32 = 0x10

    /// Opens `path` (read-write unless `readOnly`; `create` makes a missing file, mode 0644;
    /// `flushesToDisk: false` makes ``flush()`` a no-op; `direct` opens it `O_DIRECT`; reads and
    /// writes go through `aio` when given, else `pool`). Throws `io(errno:operation: "open")`
    /// (`EINVAL` for `direct` on a file system without `O_DIRECT`, such as tmpfs).
    public init(path: String, readOnly: Bool = false, create: Bool = false, flushesToDisk: Bool = true,
                direct: Bool = false, aio: LinuxAIOEngine? = nil, pool: BlockIOPool = .shared) throws(BlockError) {
        var flags = (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC
        if create && !readOnly { flags |= O_CREAT }
        if direct { flags |= emu_o_direct() }
        let fd = open(path, flags, 0o644)
        if fd < 0 { throw .io(errno: errno, operation: "open") }
        self.fd = fd
        self.path = path
        self.isReadOnly = readOnly
        self.flushesToDisk = flushesToDisk
        self.direct = direct
        self.aio = aio
        self.pool = pool
    }

    /// The engine in use, as `emu-img info` and benchmarks name it.
    public var engineName: String { aio == nil ? "threads" : "linux-aio" }

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

    /// Fills the buffer from `offset`; zeroes past the host file's end.
    public func read(into buffer: BlockBuffer, at offset: UInt64) async throws(BlockError) {
        guard let base = buffer.bytes.baseAddress else { return }
        if direct && !isAligned(base, buffer.count, offset) {
            let span = alignedSpan(offset, buffer.count)
            let bounce = BlockBuffer(count: Int(span.upperBound - span.lowerBound), alignment: Self.directAlignment)
            try await readAll(into: bounce.bytes, at: span.lowerBound)
            let skip = Int(offset - span.lowerBound)
            buffer.bytes.copyMemory(from: UnsafeRawBufferPointer(rebasing: bounce.bytes[skip..<(skip + buffer.count)]))
            return
        }
        try await readAll(into: buffer.bytes, at: offset)
    }

    /// Writes the whole buffer at `offset`.
    public func write(from buffer: BlockBuffer, at offset: UInt64) async throws(BlockError) {
        guard let base = buffer.bytes.baseAddress else { return }
        guard direct else { return try await writeAll(from: buffer.bytes, at: offset) }
        let span = alignedSpan(offset, buffer.count)
        await writeRanges.acquire(span)
        defer { writeRanges.release(span) }
        if isAligned(base, buffer.count, offset) { return try await writeAll(from: buffer.bytes, at: offset) }
        // Read-modify-write of the covering aligned blocks (other writes to them wait).
        let bounce = BlockBuffer(count: Int(span.upperBound - span.lowerBound), alignment: Self.directAlignment)
        try await readAll(into: bounce.bytes, at: span.lowerBound)
        let skip = Int(offset - span.lowerBound)
        UnsafeMutableRawBufferPointer(rebasing: bounce.bytes[skip..<(skip + buffer.count)]).copyMemory(from: UnsafeRawBufferPointer(buffer.bytes))
        try await writeAll(from: bounce.bytes, at: span.lowerBound)
    }

    private func isAligned(_ base: UnsafeMutableRawPointer, _ count: Int, _ offset: UInt64) -> Bool {
        let a = Self.directAlignment
        return Int(bitPattern: base) % a == 0 && count % a == 0 && offset % UInt64(a) == 0
    }

    /// The aligned blocks covering `offset..<offset+count` (the node checked it cannot overflow).
    private func alignedSpan(_ offset: UInt64, _ count: Int) -> Range<UInt64> {
        let a = UInt64(Self.directAlignment)
        let start = offset / a * a
        let end = (offset + UInt64(count) + a - 1) / a * a
        return start..<end
    }

    /// Reads until `bytes` is full (zeroes past the end of the file), through the engine.
    private func readAll(into bytes: UnsafeMutableRawBufferPointer, at offset: UInt64) async throws(BlockError) {
        let done = try await transfer(bytes, at: offset, writing: false)
        if done < bytes.count, let base = bytes.baseAddress { memset(base + done, 0, bytes.count - done) }
    }

    /// Writes all of `bytes`, through the engine.
    private func writeAll(from bytes: UnsafeMutableRawBufferPointer, at offset: UInt64) async throws(BlockError) {
        let done = try await transfer(bytes, at: offset, writing: true)
        if done < bytes.count { throw .io(errno: EIO, operation: "pwrite") }
    }

    /// Moves bytes between `bytes` and the file at `offset` until all are moved or the file
    /// returns 0 (its end, for a read); continues short transfers, retries `EINTR`/`EAGAIN`.
    /// Returns the bytes moved.
    private func transfer(_ bytes: UnsafeMutableRawBufferPointer, at offset: UInt64, writing: Bool) async throws(BlockError) -> Int {
        guard let base = bytes.baseAddress else { return 0 }
        let count = bytes.count, fd = self.fd
        if let aio {
            var done = 0
            while done < count {
                let moved = writing
                    ? await aio.write(fd: fd, from: base + done, count: count - done, offset: offset + UInt64(done))
                    : await aio.read(fd: fd, into: base + done, count: count - done, offset: offset + UInt64(done))
                if moved == -Int(EINTR) || moved == -Int(EAGAIN) { continue }
                if moved < 0 { throw .io(errno: Int32(-moved), operation: writing ? "io_submit(pwrite)" : "io_submit(pread)") }
                if moved == 0 { break }
                done += moved
            }
            return done
        }
        let address = UInt(bitPattern: base)
        return try await pool.run { () -> Result<Int, BlockError> in
            guard let base = UnsafeMutableRawPointer(bitPattern: address) else { return .success(0) }
            var done = 0
            while done < count {
                let moved = writing ? pwrite(fd, base + done, count - done, off_t(offset) + off_t(done))
                                    : pread(fd, base + done, count - done, off_t(offset) + off_t(done))
                if moved < 0 {
                    if errno == EINTR { continue }
                    return .failure(.io(errno: errno, operation: writing ? "pwrite" : "pread"))
                }
                if moved == 0 { break }
                done += moved
            }
            return .success(done)
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
