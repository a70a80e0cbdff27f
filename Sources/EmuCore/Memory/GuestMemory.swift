import Atomics

/// The direction of a DMA mapping.
public enum DMAAccess: Sendable, Hashable {
    /// The device reads guest memory (ROM allowed).
    case read
    /// The device writes guest memory.
    case write
    /// Both.
    case readWrite

    var writes: Bool { self != .read }
}

/// Guest RAM as a device model sees it (like rust-vmm's `vm-memory`): RAM and ROM only, every
/// address and length untrusted and checked.
///
/// Guarantees for all conformers:
/// - a zero length, an overflowing range, or a range that is not entirely RAM (ROM for reads)
///   throws a ``GuestMemoryError`` and touches nothing (no partial copy);
/// - writes mark the written pages dirty for every tracking ``DirtyMemoryClient``;
/// - data is little-endian in the typed accessors.
public protocol GuestMemory: Sendable {
    /// Copies `buffer.count` bytes of guest memory at `address` into `buffer`.
    /// - Throws: ``GuestMemoryError/zeroLength(address:)``, ``GuestMemoryError/overflow(address:length:)``,
    ///   ``GuestMemoryError/unmapped(address:)``, ``GuestMemoryError/notRAM(address:)``.
    func read(into buffer: UnsafeMutableRawBufferPointer, at address: UInt64) throws(GuestMemoryError)

    /// Copies `bytes` into guest memory at `address` and marks the pages dirty.
    /// - Throws: as ``read(into:at:)``, plus ``GuestMemoryError/readOnly(address:)`` for ROM.
    func write(_ bytes: UnsafeRawBufferPointer, at address: UInt64) throws(GuestMemoryError)

    /// Maps `[address, address+length)` to host memory for DMA: the returned segments, in order,
    /// cover exactly the range (one per RAM range it crosses). The RAM stays alive while the
    /// mapping exists. Finish with ``unmap(_:bytesWritten:)``.
    /// - Throws: as ``write(_:at:)`` for `.write`/`.readWrite`, as ``read(into:at:)`` for `.read`,
    ///   plus ``GuestMemoryError/tooLarge(address:length:)``.
    func map(_ address: UInt64, length: UInt64, access: DMAAccess) throws(GuestMemoryError) -> DMAMapping

    /// Ends a mapping: for a writable mapping, marks dirty the first `bytesWritten` bytes of the
    /// range (clamped to its length). Unmapping twice has no further effect.
    func unmap(_ mapping: DMAMapping, bytesWritten: UInt64)
}

extension GuestMemory {
    public func unmap(_ mapping: DMAMapping, bytesWritten: UInt64) {
        mapping.finish(bytesWritten: bytesWritten)
    }

    /// Reads `count` bytes at `address`.
    /// - Throws: as ``GuestMemory/read(into:at:)``; `count <= 0` gives ``GuestMemoryError/zeroLength(address:)``.
    public func read(count: Int, at address: UInt64) throws(GuestMemoryError) -> [UInt8] {
        guard count > 0 else { throw .zeroLength(address: address) }
        var result = [UInt8](repeating: 0, count: count)
        var failure: GuestMemoryError?
        result.withUnsafeMutableBytes { buf in
            do throws(GuestMemoryError) { try read(into: buf, at: address) } catch { failure = error }
        }
        if let failure { throw failure }
        return result
    }

    /// Writes `bytes` at `address`.
    /// - Throws: as ``GuestMemory/write(_:at:)``.
    public func write(_ bytes: [UInt8], at address: UInt64) throws(GuestMemoryError) {
        var failure: GuestMemoryError?
        bytes.withUnsafeBytes { raw in
            do throws(GuestMemoryError) { try write(raw, at: address) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Loads a little-endian integer at `address` (any alignment).
    /// - Throws: as ``GuestMemory/read(into:at:)`` for the `T.bitWidth / 8` bytes.
    @inline(__always)
    public func load<T: FixedWidthInteger>(_ type: T.Type = T.self, at address: UInt64) throws(GuestMemoryError) -> T {
        var value = T.zero
        var failure: GuestMemoryError?
        withUnsafeMutableBytes(of: &value) { buf in
            do throws(GuestMemoryError) { try read(into: buf, at: address) } catch { failure = error }
        }
        if let failure { throw failure }
        return T(littleEndian: value)
    }

    /// Stores `value` little-endian at `address` (any alignment).
    /// - Throws: as ``GuestMemory/write(_:at:)`` for the `T.bitWidth / 8` bytes.
    @inline(__always)
    public func store<T: FixedWidthInteger>(_ value: T, at address: UInt64) throws(GuestMemoryError) {
        var le = value.littleEndian
        var failure: GuestMemoryError?
        withUnsafeBytes(of: &le) { raw in
            do throws(GuestMemoryError) { try write(raw, at: address) } catch { failure = error }
        }
        if let failure { throw failure }
    }
}

/// Host buffers for a guest range, from ``GuestMemory/map(_:length:access:)``.
///
/// The segments point into guest RAM blocks that this object keeps alive; they stay valid
/// until the mapping is deallocated (using them after ``GuestMemory/unmap(_:bytesWritten:)``
/// is allowed but writes will not be marked dirty). For a `.read` mapping, do not write
/// through the segments (they may point at ROM).
///
/// `@unchecked Sendable` is sound: all stored properties are immutable except the unmap flag,
/// which is atomic; the segments address shared guest memory kept alive by `blocks`.
public final class DMAMapping: @unchecked Sendable {
    /// First guest address of the range.
    public let address: UInt64
    /// Total length in bytes (the sum of the segment lengths).
    public let length: UInt64
    /// The direction asked for.
    public let access: DMAAccess
    /// Host buffers in guest-address order, covering exactly the range.
    public let segments: [UnsafeMutableRawBufferPointer]
    /// (block, offset in block, length) per segment; keeps the RAM alive.
    let pieces: [(block: RAMBlock, offset: UInt64, length: UInt64)]
    private let finished = ManagedAtomic(false)

    init(address: UInt64, length: UInt64, access: DMAAccess,
         pieces: [(block: RAMBlock, offset: UInt64, length: UInt64)]) {
        self.address = address
        self.length = length
        self.access = access
        self.pieces = pieces
        self.segments = pieces.map {
            UnsafeMutableRawBufferPointer(start: $0.block.hostBase + Int($0.offset), count: Int($0.length))
        }
    }

    /// Whether the mapping has been unmapped.
    public var isUnmapped: Bool { finished.load(ordering: .acquiring) }

    /// Marks `[offset, offset+length)` of the mapping (offsets from ``address``) dirty now, for
    /// a device that writes through ``segments`` while the mapping stays open (a virtqueue's used
    /// ring). The range is clamped to the mapping; a `.read` mapping marks nothing.
    public func markDirty(offset: UInt64, length: UInt64) {
        guard access.writes, offset < self.length else { return }
        var skip = offset
        var left = min(length, self.length - offset)
        for piece in pieces where left > 0 {
            if skip >= piece.length { skip -= piece.length; continue }
            let n = min(left, piece.length - skip)
            piece.block.markDirty(offset: piece.offset + skip, length: n)
            left -= n
            skip = 0
        }
    }

    func finish(bytesWritten: UInt64) {
        guard !finished.exchange(true, ordering: .acquiringAndReleasing) else { return }
        guard access.writes else { return }
        var left = min(bytesWritten, length)
        for piece in pieces where left > 0 {
            let n = min(left, piece.length)
            piece.block.markDirty(offset: piece.offset, length: n)
            left -= n
        }
    }
}

// MARK: - Shared implementation over a flat view

extension FlatView {
    /// Checks that `[address, address+length)` is valid, non-empty and entirely RAM (or ROM when
    /// `writing` is false). Returns the index of the range holding `address`.
    @inline(__always)
    func checkRAM(_ address: UInt64, _ length: UInt64, writing: Bool) throws(GuestMemoryError) -> Int {
        guard length > 0 else { throw .zeroLength(address: address) }
        guard address <= UInt64.max - (length - 1) else { throw .overflow(address: address, length: length) }
        guard let first = index(containing: address) else { throw .unmapped(address: address) }
        var i = first
        var pos = address
        var left = length
        while true {
            let r = ranges[i]
            switch r.target {
            case .ram: break
            case .rom: if writing { throw .readOnly(address: pos) }
            case .mmio: throw .notRAM(address: pos)
            }
            let take = min(left, r.end - pos)
            left -= take
            if left == 0 { return first }
            pos += take  // < address + length, no overflow
            i += 1
            guard i < ranges.count, ranges[i].start == pos else { throw .unmapped(address: pos) }
        }
    }

    func guestRead(into buffer: UnsafeMutableRawBufferPointer, at address: UInt64) throws(GuestMemoryError) {
        var i = try checkRAM(address, UInt64(buffer.count), writing: false)
        guard let dst = buffer.baseAddress else { throw .zeroLength(address: address) }
        var pos = address
        var done = 0
        while done < buffer.count {
            let r = ranges[i]
            let n = min(buffer.count - done, Int(r.end - pos))
            switch r.target {
            case .ram(let b), .rom(let b):
                (dst + done).copyMemory(from: b.hostBase + Int(r.offsetInRegion + (pos - r.start)), byteCount: n)
            case .mmio: break  // excluded by checkRAM
            }
            done += n
            pos &+= UInt64(n)
            i += 1
        }
    }

    func guestWrite(_ bytes: UnsafeRawBufferPointer, at address: UInt64) throws(GuestMemoryError) {
        var i = try checkRAM(address, UInt64(bytes.count), writing: true)
        guard let src = bytes.baseAddress else { throw .zeroLength(address: address) }
        var pos = address
        var done = 0
        while done < bytes.count {
            let r = ranges[i]
            let n = min(bytes.count - done, Int(r.end - pos))
            if case .ram(let b) = r.target {
                let o = r.offsetInRegion + (pos - r.start)
                (b.hostBase + Int(o)).copyMemory(from: src + done, byteCount: n)
                b.markDirty(offset: o, length: UInt64(n))
            }
            done += n
            pos &+= UInt64(n)
            i += 1
        }
    }

    func guestMap(_ address: UInt64, length: UInt64, access: DMAAccess) throws(GuestMemoryError) -> DMAMapping {
        var i = try checkRAM(address, length, writing: access.writes)
        guard length <= UInt64(Int.max) else { throw .tooLarge(address: address, length: length) }
        var pieces: [(block: RAMBlock, offset: UInt64, length: UInt64)] = []
        var pos = address
        var left = length
        while left > 0 {
            let r = ranges[i]
            let n = min(left, r.end - pos)
            switch r.target {
            case .ram(let b), .rom(let b): pieces.append((b, r.offsetInRegion + (pos - r.start), n))
            case .mmio: break  // excluded by checkRAM
            }
            left -= n
            pos &+= n
            i += 1
        }
        return DMAMapping(address: address, length: length, access: access, pieces: pieces)
    }
}

extension AddressSpace: GuestMemory {
    /// See ``GuestMemory/read(into:at:)``. Resolves through the current flat view; a range may
    /// cross several RAM/ROM regions.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at address: UInt64) throws(GuestMemoryError) {
        try flatView.guestRead(into: buffer, at: address)
    }

    /// See ``GuestMemory/write(_:at:)``.
    public func write(_ bytes: UnsafeRawBufferPointer, at address: UInt64) throws(GuestMemoryError) {
        try flatView.guestWrite(bytes, at: address)
    }

    /// See ``GuestMemory/map(_:length:access:)``.
    public func map(_ address: UInt64, length: UInt64, access: DMAAccess) throws(GuestMemoryError) -> DMAMapping {
        try flatView.guestMap(address, length: length, access: access)
    }
}
