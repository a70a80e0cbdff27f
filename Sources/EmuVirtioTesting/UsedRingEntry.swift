/// One entry the device put in the used ring (split) or one used descriptor (packed), read as it
/// is, for any chain: one the driver submitted or offered, or an id it never gave out.
public struct UsedRingEntry: Sendable, Hashable {
    /// The id the device wrote: a head index (split; 32 bits in the ring) or a buffer id (packed).
    public var id: UInt32
    /// The used length the device wrote.
    public var length: UInt32
    /// Whether `id` named a chain the driver had outstanding; if so the driver took it back.
    public var wasOutstanding: Bool
    /// For an outstanding chain: the first `length` bytes of its device-writable buffers, in chain
    /// order (inside indirect tables too). `nil` when the id was not outstanding, the length is
    /// more than those buffers hold, or they are not readable RAM.
    public var written: [UInt8]?

    /// Creates an entry (tests compare against expected values).
    public init(id: UInt32, length: UInt32, wasOutstanding: Bool, written: [UInt8]?) {
        self.id = id
        self.length = length
        self.wasOutstanding = wasOutstanding
        self.written = written
    }
}
