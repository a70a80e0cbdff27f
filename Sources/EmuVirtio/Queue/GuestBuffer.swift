/// One descriptor's buffer: a guest address range the device may read or write. Checked only
/// against address-space overflow; whether it is RAM is checked at access time by ``GuestMemory``.
public struct GuestBuffer: Sendable, Hashable {
    /// First guest address.
    public var address: UInt64
    /// Length in bytes (may be zero).
    public var length: UInt32

    /// Creates a buffer description.
    public init(address: UInt64, length: UInt32) {
        self.address = address
        self.length = length
    }
}
