import EmuCore

/// Why a device could not copy to or from a chain's buffers.
public enum ChainAccessError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A buffer is not guest RAM (the driver gave a bad address).
    case memory(GuestMemoryError)
    /// The request reaches past the readable (or writable) bytes of the chain.
    case outOfRange(offset: UInt64, count: Int, available: UInt64)

    public var description: String {
        switch self {
        case .memory(let e): return "chain buffer: \(e)"
        case .outOfRange(let o, let n, let a): return "\(n) bytes at offset \(o) exceed the chain's \(a) bytes"
        }
    }
}

extension VirtqueueElement {
    /// Copies `buffer.count` bytes of the readable part, starting `offset` bytes into it.
    /// - Throws: ``ChainAccessError/outOfRange(offset:count:available:)`` if the range is not
    ///   entirely readable; ``ChainAccessError/memory(_:)`` if a buffer is not RAM (the copy may
    ///   then be partial).
    public func read(into buffer: UnsafeMutableRawBufferPointer, offset: UInt64 = 0,
                     from memory: some GuestMemory) throws(ChainAccessError) {
        try Self.walk(readable, total: readableLength, offset: offset, count: buffer.count) {
            address, done, n throws(GuestMemoryError) in
            try memory.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done..<done + n]), at: address)
        }
    }

    /// Returns `count` bytes of the readable part from `offset` (by default all of it). The
    /// bytes are allocated first: with a chain from an untrusted driver, pass a `count` the
    /// device has bounded (a chain may claim gigabytes).
    /// - Throws: as ``read(into:offset:from:)``.
    public func readBytes(offset: UInt64 = 0, count: Int? = nil, from memory: some GuestMemory) throws(ChainAccessError) -> [UInt8] {
        let available = readableLength > offset ? readableLength - offset : 0
        let n = count ?? Int(clamping: available)
        guard n >= 0, UInt64(n) <= available else {
            throw .outOfRange(offset: offset, count: n, available: readableLength)
        }
        var result = [UInt8](repeating: 0, count: n)
        var failure: ChainAccessError?
        result.withUnsafeMutableBytes { raw in
            do throws(ChainAccessError) { try read(into: raw, offset: offset, from: memory) } catch { failure = error }
        }
        if let failure { throw failure }
        return result
    }

    /// Copies `bytes` into the writable part, starting `offset` bytes into it.
    /// - Throws: ``ChainAccessError/outOfRange(offset:count:available:)`` if they do not fit (then
    ///   nothing is written); ``ChainAccessError/memory(_:)`` if a buffer is not RAM (the copy
    ///   may then be partial).
    public func write(_ bytes: UnsafeRawBufferPointer, offset: UInt64 = 0,
                      to memory: some GuestMemory) throws(ChainAccessError) {
        try Self.walk(writable, total: writableLength, offset: offset, count: bytes.count) {
            address, done, n throws(GuestMemoryError) in
            try memory.write(UnsafeRawBufferPointer(rebasing: bytes[done..<done + n]), at: address)
        }
    }

    /// Copies `bytes` into the writable part at `offset`. - Throws: as ``write(_:offset:to:)``.
    public func write(_ bytes: [UInt8], offset: UInt64 = 0, to memory: some GuestMemory) throws(ChainAccessError) {
        var failure: ChainAccessError?
        bytes.withUnsafeBytes { raw in
            do throws(ChainAccessError) { try write(raw, offset: offset, to: memory) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Visits the pieces of `[offset, offset+count)` of `buffers`: `body(guestAddress,
    /// bytesDoneSoFar, pieceLength)`.
    private static func walk(_ buffers: [GuestBuffer], total: UInt64, offset: UInt64, count: Int,
                             _ body: (UInt64, Int, Int) throws(GuestMemoryError) -> Void) throws(ChainAccessError) {
        guard count > 0 else { return }
        guard offset <= total, UInt64(count) <= total - offset else {
            throw .outOfRange(offset: offset, count: count, available: total)
        }
        var skip = offset
        var done = 0
        for buffer in buffers where done < count {
            let length = UInt64(buffer.length)
            if skip >= length { skip -= length; continue }
            let n = Int(min(length - skip, UInt64(count - done)))
            do throws(GuestMemoryError) { try body(buffer.address + skip, done, n) } catch { throw .memory(error) }
            done += n
            skip = 0
        }
    }
}
