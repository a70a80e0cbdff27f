/// One request a test driver offers a device: the bytes the device reads, then the sizes of the
/// buffers it may write.
public struct DriverRequest: Sendable, Hashable {
    /// Device-readable buffers, one descriptor each (empty arrays are skipped).
    public var readable: [[UInt8]]
    /// Sizes of the device-writable buffers, one descriptor each.
    public var writableLengths: [Int]
    /// Put the chain in an indirect table (needs `VIRTIO_F_INDIRECT_DESC`).
    public var indirect: Bool

    /// Creates a request.
    public init(readable: [[UInt8]] = [], writableLengths: [Int] = [], indirect: Bool = false) {
        self.readable = readable
        self.writableLengths = writableLengths
        self.indirect = indirect
    }
}

/// A request the device returned: its token (the chain's id), the length the device reported,
/// and that many bytes gathered from the writable buffers.
public struct DriverCompletion: Sendable, Hashable {
    /// The value ``VirtqueueDriver/submit(_:)`` returned for the request.
    public var token: UInt16
    /// The used length the device wrote.
    public var writtenLength: UInt32
    /// The first `writtenLength` bytes of the writable buffers.
    public var written: [UInt8]

    /// Creates a completion (tests compare against expected values).
    public init(token: UInt16, writtenLength: UInt32, written: [UInt8]) {
        self.token = token
        self.writtenLength = writtenLength
        self.written = written
    }
}

/// Why a test driver could not submit, or what it caught the device doing wrong.
public enum VirtqueueDriverError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Not enough free descriptors (or ring slots) for the request.
    case queueFull
    /// The data area has no room for the request's buffers.
    case outOfGuestMemory
    /// The request has no buffers at all.
    case emptyRequest
    /// A guest memory access failed (the layout given to the driver is wrong).
    case memory(String)
    /// The device returned an id that is not outstanding.
    case deviceReturnedUnknownID(UInt16)
    /// The device reported more bytes than the request's writable buffers hold.
    case deviceWroteTooMuch(id: UInt16, length: UInt32, capacity: Int)
    /// A raw chain or head the driver cannot lay out in its ring format (the reason says why).
    case invalidChain(String)

    public var description: String {
        switch self {
        case .queueFull: return "no free descriptors"
        case .outOfGuestMemory: return "no room for the buffers in the data area"
        case .emptyRequest: return "a request needs at least one buffer"
        case .memory(let s): return "guest memory: \(s)"
        case .deviceReturnedUnknownID(let id): return "device returned id \(id), which is not outstanding"
        case .deviceWroteTooMuch(let id, let n, let c): return "device reported \(n) bytes for id \(id), capacity \(c)"
        case .invalidChain(let why): return "cannot lay out the chain: \(why)"
        }
    }
}
