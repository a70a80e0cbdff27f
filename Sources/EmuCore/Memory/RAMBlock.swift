import Atomics
import CEmuSystem
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Why a ``RAMBlock`` could not be created or accessed.
public enum RAMBlockError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The requested size was zero, or too large to round up to a page or to map.
    case invalidSize(UInt64)
    /// A system call failed; `errno` is the value it left.
    case systemCall(String, errno: Int32)
    /// A host access (`offset`, `length`) does not lie inside the block.
    case outOfBounds(offset: UInt64, length: UInt64)

    public var description: String {
        switch self {
        case .invalidSize(let size): return "invalid RAM block size \(size)"
        case .systemCall(let call, let errno):
            return "\(call) failed: \(String(cString: strerror(errno))) (errno \(errno))"
        case .outOfBounds(let offset, let length):
            return "host access of \(length) bytes at offset \(offset) is outside the RAM block"
        }
    }
}

/// Guest RAM backed by a memfd: a file descriptor another process (a vhost-user back end, say)
/// can map at ``fdOffset`` to see exactly the bytes the guest sees.
///
/// The block is mapped `MAP_SHARED`, read/write, once, at creation; ``hostBase`` stays valid and
/// fixed until the block is deallocated (keep a reference for as long as you use the pointer).
/// The block also holds the dirty-page bitmaps (one per ``DirtyMemoryClient``, 4 KiB pages).
///
/// `@unchecked Sendable` is sound because every stored property is immutable after `init`
/// (the fd, the mapping, the bitmap allocation) and the only mutable state is reached through
/// atomics (the bitmaps and the enabled-client mask). The guest-visible bytes behind `hostBase`
/// are shared memory that guest CPUs, devices and other processes race on, exactly as on real
/// hardware; the block makes no promise about them beyond "the mapping exists".
public final class RAMBlock: @unchecked Sendable {
    /// The dirty-tracking granule and the unit the size is rounded up to.
    public static let pageSize: UInt64 = 4096
    static let pageShift: UInt64 = 12

    /// A label (also given to memfd_create, so it shows in /proc/<pid>/fd).
    public let name: String
    /// The memfd holding the bytes; owned by the block, closed on deinit.
    public let fd: Int32
    /// Where the block's first byte lies in ``fd`` (0 for a block this process created).
    public let fdOffset: UInt64
    /// The mapped size in bytes, a multiple of ``pageSize``.
    public let size: UInt64
    /// The host address of the block's first byte; valid for the block's lifetime.
    public let hostBase: UnsafeMutableRawPointer

    /// Number of 4 KiB pages.
    public var pageCount: UInt64 { size >> Self.pageShift }

    private let wordsPerClient: Int
    /// `DirtyMemoryClient.maxClients * wordsPerClient` atomic words, client-major.
    private let bitmaps: UnsafeMutablePointer<UnsafeAtomic<UInt64>.Storage>
    /// Bit `i` set = client with index `i` is tracking.
    private let enabledClients: ManagedAtomic<UInt8>

    /// Creates a zero-filled block of at least `size` bytes (rounded up to ``pageSize``).
    ///
    /// - Throws: ``RAMBlockError/invalidSize(_:)`` for 0 or a size that cannot be mapped;
    ///   ``RAMBlockError/systemCall(_:errno:)`` when memfd_create, ftruncate or mmap fails.
    public init(name: String, size requested: UInt64) throws(RAMBlockError) {
        guard requested > 0, requested <= UInt64(Int.max) - (Self.pageSize - 1) else {
            throw .invalidSize(requested)
        }
        let size = (requested + Self.pageSize - 1) & ~(Self.pageSize - 1)
        let fd = emu_memfd_create(name, 0)
        guard fd >= 0 else { throw .systemCall("memfd_create", errno: errno) }
        guard ftruncate(fd, off_t(size)) == 0 else {
            let saved = errno
            close(fd)
            throw .systemCall("ftruncate", errno: saved)
        }
        let mapped = mmap(nil, Int(size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        guard let mapped, mapped != UnsafeMutableRawPointer(bitPattern: -1) else {
            let saved = errno
            close(fd)
            throw .systemCall("mmap", errno: saved)
        }
        self.name = name
        self.fd = fd
        self.fdOffset = 0
        self.size = size
        self.hostBase = mapped
        let pages = size >> Self.pageShift
        let words = Int((pages + 63) / 64)
        self.wordsPerClient = words
        let total = words * DirtyMemoryClient.maxClients
        self.bitmaps = .allocate(capacity: total)
        self.bitmaps.initialize(repeating: UnsafeAtomic<UInt64>.Storage(0), count: total)
        self.enabledClients = ManagedAtomic(0)
    }

    /// Maps memory another process shared: `size` bytes of `fd` from `offset` (a vhost-user back
    /// end mapping the guest RAM its front end sent). Takes ownership of `fd` (closed on deinit,
    /// and on failure). The bytes are not cleared.
    ///
    /// - Throws: ``RAMBlockError/invalidSize(_:)`` for a size of 0, a size or offset that is not a
    ///   multiple of ``pageSize``, or a range that overflows; ``RAMBlockError/outOfBounds(offset:length:)``
    ///   when the fd is shorter than the range (mapping it would fault on the missing pages);
    ///   ``RAMBlockError/systemCall(_:errno:)`` when fstat or mmap fails (e.g. the fd is not mappable).
    public init(name: String, mapping fd: Int32, offset: UInt64, size: UInt64) throws(RAMBlockError) {
        guard size > 0, size % Self.pageSize == 0, offset % Self.pageSize == 0,
              size <= UInt64(Int.max), offset <= UInt64(Int64.max) - size else {
            close(fd)
            throw .invalidSize(size)
        }
        // mmap does not check the file's length; touching a page past its end would raise SIGBUS.
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let saved = errno
            close(fd)
            throw .systemCall("fstat", errno: saved)
        }
        guard st.st_size >= 0, offset + size <= UInt64(st.st_size) else {
            close(fd)
            throw .outOfBounds(offset: offset, length: size)
        }
        let mapped = mmap(nil, Int(size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, off_t(offset))
        guard let mapped, mapped != UnsafeMutableRawPointer(bitPattern: -1) else {
            let saved = errno
            close(fd)
            throw .systemCall("mmap", errno: saved)
        }
        self.name = name
        self.fd = fd
        self.fdOffset = offset
        self.size = size
        self.hostBase = mapped
        let words = Int(((size >> Self.pageShift) + 63) / 64)
        self.wordsPerClient = words
        let total = words * DirtyMemoryClient.maxClients
        self.bitmaps = .allocate(capacity: total)
        self.bitmaps.initialize(repeating: UnsafeAtomic<UInt64>.Storage(0), count: total)
        self.enabledClients = ManagedAtomic(0)
    }

    deinit {
        munmap(hostBase, Int(size))
        close(fd)
        bitmaps.deinitialize(count: wordsPerClient * DirtyMemoryClient.maxClients)
        bitmaps.deallocate()
    }

    // MARK: Host access

    /// Copies `bytes` into the block at `offset` (a host operation: loading firmware into ROM,
    /// say), marking the pages dirty for every tracking client.
    ///
    /// - Throws: ``RAMBlockError/outOfBounds(offset:length:)`` if the bytes do not fit.
    public func hostWrite(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws(RAMBlockError) {
        let length = UInt64(bytes.count)
        guard offset <= size, length <= size - offset else {
            throw .outOfBounds(offset: offset, length: length)
        }
        guard length > 0, let src = bytes.baseAddress else { return }
        (hostBase + Int(offset)).copyMemory(from: src, byteCount: bytes.count)
        markDirty(offset: offset, length: length)
    }

    /// Copies bytes out of the block at `offset` into `buffer`.
    ///
    /// - Throws: ``RAMBlockError/outOfBounds(offset:length:)`` if the range is not inside the block.
    public func hostRead(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(RAMBlockError) {
        let length = UInt64(buffer.count)
        guard offset <= size, length <= size - offset else {
            throw .outOfBounds(offset: offset, length: length)
        }
        guard length > 0, let dst = buffer.baseAddress else { return }
        dst.copyMemory(from: hostBase + Int(offset), byteCount: buffer.count)
    }

    // MARK: Dirty tracking

    /// Starts recording writes for `client`, beginning from a clean bitmap.
    /// Other clients are unaffected.
    public func startDirtyTracking(_ client: DirtyMemoryClient) {
        clearBitmap(client)
        _ = enabledClients.loadThenBitwiseOr(with: client.bit, ordering: .sequentiallyConsistent)
    }

    /// Stops recording writes for `client`; its bitmap is cleared.
    public func stopDirtyTracking(_ client: DirtyMemoryClient) {
        _ = enabledClients.loadThenBitwiseAnd(with: ~client.bit, ordering: .sequentiallyConsistent)
        clearBitmap(client)
    }

    /// Whether `client` is currently recording writes.
    public func isTrackingDirty(_ client: DirtyMemoryClient) -> Bool {
        enabledClients.load(ordering: .relaxed) & client.bit != 0
    }

    /// Records that bytes `[offset, offset+length)` of the block were written, in every
    /// enabled client's bitmap. Lock-free; safe from any number of threads. Ranges outside the
    /// block are clipped. Cheap (one relaxed load) when nobody is tracking.
    @inline(__always)
    public func markDirty(offset: UInt64, length: UInt64) {
        let mask = enabledClients.load(ordering: .relaxed)
        guard mask != 0 else { return }
        markDirtySlow(mask: mask, offset: offset, length: length)
    }

    private func markDirtySlow(mask: UInt8, offset: UInt64, length: UInt64) {
        guard length > 0, offset < size else { return }
        let last = offset + min(length, size - offset) - 1
        let firstPage = offset >> Self.pageShift
        let lastPage = last >> Self.pageShift
        for client in 0..<DirtyMemoryClient.maxClients where mask & (1 << UInt8(client)) != 0 {
            forEachWord(client: client, firstPage: firstPage, lastPage: lastPage) { word, bits in
                // Skip the read-modify-write (and the cache-line bounce) when already set.
                if word.load(ordering: .relaxed) & bits != bits {
                    _ = word.loadThenBitwiseOr(with: bits, ordering: .relaxed)
                }
            }
        }
    }

    /// Returns the indices (block page numbers, `offset / pageSize`) of the pages in
    /// `[offset, offset+length)` that `client` saw written, and clears exactly those bits.
    /// Atomic per word: a write racing with the call is reported either now or next time,
    /// never lost. The range is clipped to the block; an empty range returns `[]`.
    public func testAndClearDirty(_ client: DirtyMemoryClient, offset: UInt64 = 0,
                                  length: UInt64 = .max) -> [UInt64] {
        var pages: [UInt64] = []
        visitDirty(client, offset: offset, length: length, clear: true) { pages.append($0) }
        return pages
    }

    /// Whether any page in `[offset, offset+length)` is dirty for `client` (does not clear).
    public func isDirty(_ client: DirtyMemoryClient, offset: UInt64 = 0, length: UInt64 = .max) -> Bool {
        var any = false
        visitDirty(client, offset: offset, length: length, clear: false) { _ in any = true }
        return any
    }

    private func visitDirty(_ client: DirtyMemoryClient, offset: UInt64, length: UInt64, clear: Bool,
                            _ report: (UInt64) -> Void) {
        guard length > 0, offset < size else { return }
        let last = offset + min(length, size - offset) - 1
        let firstPage = offset >> Self.pageShift
        let lastPage = last >> Self.pageShift
        forEachWordIndexed(client: client.index, firstPage: firstPage, lastPage: lastPage) { word, bits, wordPage in
            var found = word.load(ordering: .relaxed) & bits
            if found != 0 && clear {
                found = word.loadThenBitwiseAnd(with: ~bits, ordering: .acquiringAndReleasing) & bits
            }
            while found != 0 {
                let bit = UInt64(found.trailingZeroBitCount)
                report(wordPage + bit)
                found &= found - 1
            }
        }
    }

    private func forEachWord(client: Int, firstPage: UInt64, lastPage: UInt64,
                             _ body: (UnsafeAtomic<UInt64>, UInt64) -> Void) {
        forEachWordIndexed(client: client, firstPage: firstPage, lastPage: lastPage) { word, bits, _ in
            body(word, bits)
        }
    }

    /// Calls `body(word, bitsInRange, firstPageOfWord)` for each bitmap word touching the pages.
    private func forEachWordIndexed(client: Int, firstPage: UInt64, lastPage: UInt64,
                                    _ body: (UnsafeAtomic<UInt64>, UInt64, UInt64) -> Void) {
        let base = bitmaps + client * wordsPerClient
        var word = firstPage >> 6
        let lastWord = lastPage >> 6
        while word <= lastWord {
            let lo = word == firstPage >> 6 ? firstPage & 63 : 0
            let hi = word == lastWord ? lastPage & 63 : 63
            let bits = (hi == 63 ? UInt64.max : (UInt64(1) << (hi + 1)) - 1) & ~((UInt64(1) << lo) - 1)
            body(UnsafeAtomic(at: base + Int(word)), bits, word << 6)
            word += 1
        }
    }

    private func clearBitmap(_ client: DirtyMemoryClient) {
        let base = bitmaps + client.index * wordsPerClient
        for i in 0..<wordsPerClient {
            UnsafeAtomic<UInt64>(at: base + i).store(0, ordering: .relaxed)
        }
    }
}
