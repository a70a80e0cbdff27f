/// The access sizes a memory-mapped device accepts.
///
/// Sizes are powers of two in `{1, 2, 4, 8}` with `minSize <= maxSize`; the failable init
/// refuses anything else, so every value of this type is valid. The bus adapts guest accesses
/// (see ``MMIOHandler``) so that a handler is only ever called with a size in
/// `minSize...maxSize` and, when `allowsUnaligned` is false, at an offset that is a multiple
/// of that size.
public struct MMIOAccessSizes: Hashable, Sendable, CustomStringConvertible {
    /// Smallest size the handler accepts.
    public let minSize: Int
    /// Largest size the handler accepts.
    public let maxSize: Int
    /// Whether the handler accepts accesses whose offset is not a multiple of their size.
    public let allowsUnaligned: Bool

    /// `nil` unless both sizes are in `{1, 2, 4, 8}` and `minSize <= maxSize`.
    public init?(minSize: Int, maxSize: Int, allowsUnaligned: Bool = false) {
        let valid: Set<Int> = [1, 2, 4, 8]
        guard valid.contains(minSize), valid.contains(maxSize), minSize <= maxSize else { return nil }
        self.minSize = minSize
        self.maxSize = maxSize
        self.allowsUnaligned = allowsUnaligned
    }

    private init(uncheckedMin: Int, max: Int, unaligned: Bool) {
        minSize = uncheckedMin
        maxSize = max
        allowsUnaligned = unaligned
    }

    /// Any size 1...8 at any alignment (the default).
    public static let any = MMIOAccessSizes(uncheckedMin: 1, max: 8, unaligned: true)
    /// Only aligned 1-byte accesses (byte-wide registers).
    public static let bytes = MMIOAccessSizes(uncheckedMin: 1, max: 1, unaligned: false)
    /// Only aligned 4-byte accesses (typical 32-bit register banks).
    public static let dwords = MMIOAccessSizes(uncheckedMin: 4, max: 4, unaligned: false)
    /// Only aligned 8-byte accesses.
    public static let qwords = MMIOAccessSizes(uncheckedMin: 8, max: 8, unaligned: false)

    public var description: String {
        "\(minSize)...\(maxSize)\(allowsUnaligned ? " unaligned" : " aligned")"
    }
}

/// A memory-mapped device model.
///
/// The bus calls ``read(offset:size:)`` and ``write(offset:size:value:)`` with `offset`
/// relative to the start of the MMIO region, `size` within ``accessSizes`` and values
/// little-endian in the low `size` bytes (bits above are zero on writes and ignored on reads).
///
/// Guest accesses of other sizes are adapted by the bus:
/// - larger than `maxSize`: split into consecutive little-endian pieces of at most `maxSize`;
/// - smaller than `minSize` (or not alignable): widened to one aligned `minSize` access; for
///   reads the wanted bytes are extracted; for writes the other bytes of the widened access are
///   **zero** (the handler is not read first: reads may have side effects). This is QEMU's
///   `impl.min_access_size` behaviour.
///
/// Handlers are called without any bus lock held, possibly from several threads at once; they
/// may themselves access an address space or change memory topology.
public protocol MMIOHandler: AnyObject, Sendable {
    /// Reads `size` bytes at `offset`; only the low `size` bytes of the result are used.
    func read(offset: UInt64, size: Int) -> UInt64
    /// Writes the low `size` bytes of `value` at `offset`.
    func write(offset: UInt64, size: Int, value: UInt64)
    /// The sizes this handler accepts. Read on every access; keep it constant.
    var accessSizes: MMIOAccessSizes { get }
}

extension MMIOHandler {
    /// Default: any size 1...8, any alignment.
    public var accessSizes: MMIOAccessSizes { .any }
}

/// An ``MMIOHandler`` made of two closures, for tests and small devices.
public final class ClosureMMIOHandler: MMIOHandler {
    public let accessSizes: MMIOAccessSizes
    private let onRead: @Sendable (UInt64, Int) -> UInt64
    private let onWrite: @Sendable (UInt64, Int, UInt64) -> Void

    /// - Parameters:
    ///   - accessSizes: what the closures accept (default ``MMIOAccessSizes/any``).
    ///   - read: `(offset, size) -> value`.
    ///   - write: `(offset, size, value)`; defaults to ignoring writes.
    public init(accessSizes: MMIOAccessSizes = .any,
                read: @escaping @Sendable (UInt64, Int) -> UInt64,
                write: @escaping @Sendable (UInt64, Int, UInt64) -> Void = { _, _, _ in }) {
        self.accessSizes = accessSizes
        self.onRead = read
        self.onWrite = write
    }

    public func read(offset: UInt64, size: Int) -> UInt64 { onRead(offset, size) }
    public func write(offset: UInt64, size: Int, value: UInt64) { onWrite(offset, size, value) }
}

/// Splits/widens accesses to fit a handler's ``MMIOAccessSizes``.
enum MMIODispatch {
    @inline(__always)
    static func mask(_ bytes: Int) -> UInt64 {
        bytes >= 8 ? .max : (UInt64(1) << UInt64(bytes * 8)) - 1
    }

    /// Largest power of two <= n (n in 1...8).
    @inline(__always)
    static func floorPow2(_ n: Int) -> Int {
        n >= 8 ? 8 : n >= 4 ? 4 : n >= 2 ? 2 : 1
    }

    /// One step of the adaptation: returns (handler offset, handler size, first wanted byte
    /// within the handler access, number of wanted bytes).
    @inline(__always)
    static func step(pos: UInt64, remaining: Int, sizes: MMIOAccessSizes)
        -> (base: UInt64, size: Int, skip: Int, count: Int) {
        var a = floorPow2(min(remaining, sizes.maxSize))
        if !sizes.allowsUnaligned {
            while a > 1 && pos & UInt64(a - 1) != 0 { a >>= 1 }
        }
        if a >= sizes.minSize {
            return (pos, a, 0, a)
        }
        let m = sizes.minSize
        let base = pos & ~UInt64(m - 1)
        let skip = Int(pos - base)
        return (base, m, skip, min(m - skip, remaining))
    }

    /// Reads `size` (1...8) bytes at region offset `offset` through `handler`.
    static func read(_ handler: any MMIOHandler, offset: UInt64, size: Int) -> UInt64 {
        let sizes = handler.accessSizes
        if size >= sizes.minSize && size <= sizes.maxSize && size & (size - 1) == 0
            && (sizes.allowsUnaligned || offset & UInt64(size - 1) == 0) {
            return handler.read(offset: offset, size: size) & mask(size)
        }
        var result: UInt64 = 0
        var done = 0
        while done < size {
            let s = step(pos: offset + UInt64(done), remaining: size - done, sizes: sizes)
            let v = handler.read(offset: s.base, size: s.size) & mask(s.size)
            let piece = (v >> UInt64(s.skip * 8)) & mask(s.count)
            result |= piece << UInt64(done * 8)
            done += s.count
        }
        return result
    }

    /// Writes the low `size` (1...8) bytes of `value` at region offset `offset` through `handler`.
    static func write(_ handler: any MMIOHandler, offset: UInt64, size: Int, value: UInt64) {
        let sizes = handler.accessSizes
        let value = value & mask(size)
        if size >= sizes.minSize && size <= sizes.maxSize && size & (size - 1) == 0
            && (sizes.allowsUnaligned || offset & UInt64(size - 1) == 0) {
            handler.write(offset: offset, size: size, value: value)
            return
        }
        var done = 0
        while done < size {
            let s = step(pos: offset + UInt64(done), remaining: size - done, sizes: sizes)
            let piece = (value >> UInt64(done * 8)) & mask(s.count)
            handler.write(offset: s.base, size: s.size, value: piece << UInt64(s.skip * 8))
            done += s.count
        }
    }
}
