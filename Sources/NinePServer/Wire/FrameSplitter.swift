extension NineP {
    /// Length of the first complete frame at the start of `buffer`, or nil if more bytes are needed.
    ///
    /// Looks only at the size field, so a hostile size is refused as soon as its 4 bytes
    /// arrive: below 7 throws `.messageTooSmall`, above `msize` throws `.messageTooLarge`.
    /// A stream transport can therefore never be made to buffer more than `msize` bytes
    /// for one frame. After an error the stream is unsynchronised and must be closed.
    public static func frameLength(
        in buffer: some Collection<UInt8>, msize: UInt32
    ) throws(NinePWireError) -> Int? {
        var size: UInt32 = 0
        var shift: UInt32 = 0
        for byte in buffer.prefix(4) {
            size |= UInt32(byte) << shift
            shift += 8
        }
        guard shift == 32 else { return nil }
        guard size >= UInt32(headerSize) else { throw .messageTooSmall(size: size) }
        guard size <= msize else { throw .messageTooLarge(size: size, msize: msize) }
        return buffer.count >= Int(size) ? Int(size) : nil
    }
}

/// Reassembles 9P frames from a byte stream (a socket or a virtio-console-style pipe).
///
/// Append whatever the transport delivered, then call ``nextFrame()`` until it returns
/// nil. Memory held is bounded by `msize` plus the size of the last append. The msize
/// starts at the ceiling passed to `init` and should be lowered with ``msize`` after
/// version negotiation.
public struct FrameSplitter: Sendable {
    /// Largest frame accepted; frames announcing more throw `.messageTooLarge`.
    public var msize: UInt32
    private var buffer: [UInt8] = []
    private var start = 0

    /// Creates an empty splitter accepting frames up to `msize` bytes.
    public init(msize: UInt32) {
        self.msize = msize
    }

    /// Bytes received but not yet returned as a frame.
    public var bufferedCount: Int { buffer.count - start }

    /// Adds bytes received from the transport.
    public mutating func append(_ bytes: some Collection<UInt8>) {
        if start > 0, start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// Removes and returns the next complete frame, or nil if it has not fully arrived.
    /// Throws as ``NineP/frameLength(in:msize:)``; after a throw the stream cannot be resynchronised.
    public mutating func nextFrame() throws(NinePWireError) -> [UInt8]? {
        let pending = buffer[start...]
        guard let length = try NineP.frameLength(in: pending, msize: msize) else { return nil }
        let frame = Array(pending.prefix(length))
        start += length
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        return frame
    }
}
