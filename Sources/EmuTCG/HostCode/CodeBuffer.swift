#if canImport(Glibc)
import Glibc
#endif
import CEmuSystem

/// Errors creating a `CodeBuffer`.
public enum CodeBufferError: Error, Sendable, Equatable {
    /// memfd_create, ftruncate or mmap failed with this errno.
    case hostRefused(errno: Int32)
}

/// Executable memory for generated code, never writable and executable at once: one memfd
/// mapped twice, a read/write view where code is written and a read/execute view where it
/// runs. Allocation is a bump pointer; `reset()` makes the whole buffer free again (the caller
/// guarantees that no code in it is running or referenced). The capacity is fixed, so the
/// buffer never grows; a failed `allocate` tells the caller to flush.
///
/// Fork: both views are `MADV_DONTFORK`, so a forked child shares no code memory with its
/// parent (a shared mapping would let each write into the other's code); the child calls
/// `renewAfterFork()` before using the buffer again, which maps fresh, empty views at the same
/// addresses.
///
/// Not `Sendable`: one executor owns its buffer.
public final class CodeBuffer {
    /// Bytes in each view.
    public let capacity: Int
    /// The writable view's base.
    let writable: UnsafeMutableRawPointer
    /// The executable view's base (the same bytes).
    public let executable: UnsafeRawPointer
    /// Bytes handed out so far.
    public private(set) var used = 0
    /// How many times `reset()` has emptied the buffer.
    public private(set) var flushes = 0
    /// The process whose mappings these are.
    private(set) var ownerProcess: pid_t

    /// A buffer of `capacity` bytes (rounded up to whole pages).
    /// - Throws: `CodeBufferError.hostRefused` when the host will not create or map it.
    public init(capacity: Int = 32 << 20) throws(CodeBufferError) {
        let page = 4096
        let size = max(page, (capacity + page - 1) & ~(page - 1))
        let (w, x) = try Self.mapViews(size: size, at: nil)
        self.capacity = size
        writable = w
        executable = UnsafeRawPointer(x)
        ownerProcess = getpid()
    }

    /// A memfd of `size` bytes mapped writable and executable (at the given addresses when
    /// `at` is set), both views not inherited by forked children.
    private static func mapViews(size: Int, at: (UnsafeMutableRawPointer, UnsafeMutableRawPointer)?)
        throws(CodeBufferError) -> (UnsafeMutableRawPointer, UnsafeMutableRawPointer) {
        let fd = emu_memfd_create("emu-tcg-code", 0)
        guard fd >= 0 else { throw .hostRefused(errno: errno) }
        defer { close(fd) }
        guard ftruncate(fd, off_t(size)) == 0 else { throw .hostRefused(errno: errno) }
        let fixed = at == nil ? 0 : MAP_FIXED
        guard let w = mmap(at?.0, size, PROT_READ | PROT_WRITE, MAP_SHARED | fixed, fd, 0), w != MAP_FAILED else {
            throw .hostRefused(errno: errno)
        }
        guard let x = mmap(at?.1, size, PROT_READ | PROT_EXEC, MAP_SHARED | fixed, fd, 0), x != MAP_FAILED else {
            let e = errno
            munmap(w, size)
            throw .hostRefused(errno: e)
        }
        _ = madvise(w, size, MADV_DONTFORK)
        _ = madvise(x, size, MADV_DONTFORK)
        return (w, x)
    }

    deinit {
        // In a forked child that never renewed the buffer these addresses are not ours.
        guard ownerProcess == getpid() else { return }
        munmap(writable, capacity)
        munmap(UnsafeMutableRawPointer(mutating: executable), capacity)
    }

    /// Whether this process is a fork child that has not renewed the buffer yet.
    var isInheritedByFork: Bool { ownerProcess != getpid() }

    /// In a forked child: fresh, empty views at the same addresses (the parent's code is not
    /// inherited). Counts as a flush.
    /// - Throws: `CodeBufferError.hostRefused` when the host will not map them.
    func renewAfterFork() throws(CodeBufferError) {
        _ = try Self.mapViews(size: capacity, at: (writable, UnsafeMutableRawPointer(mutating: executable)))
        ownerProcess = getpid()
        used = 0
        flushes += 1
    }

    /// Bytes still free.
    public var free: Int { capacity - used }

    /// Copies `code` into the buffer (16-byte aligned) and returns its offset, or nil when it
    /// does not fit (the caller flushes and tries again).
    public func append(_ code: [UInt8]) -> Int? {
        let start = (used + 15) & ~15
        guard start <= capacity, code.count <= capacity - start else { return nil }
        code.withUnsafeBytes { bytes in
            if let source = bytes.baseAddress {
                (writable + start).copyMemory(from: source, byteCount: bytes.count)
            }
        }
        used = start + code.count
        return start
    }

    /// Overwrites bytes at `offset` (patching a jump); the range must lie inside what was
    /// handed out.
    func patch(at offset: Int, _ bytes: [UInt8]) {
        guard offset >= 0, bytes.count <= used - offset else { return }
        for (i, b) in bytes.enumerated() { (writable + offset + i).storeBytes(of: b, as: UInt8.self) }
    }

    /// The executable address of `offset`.
    public func address(of offset: Int) -> UnsafeRawPointer { executable + offset }

    /// Empties the buffer. Nothing may run in it or point into it afterwards.
    public func reset() {
        used = 0
        flushes += 1
    }
}
