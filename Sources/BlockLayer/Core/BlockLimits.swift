/// What a driver declares about the requests it accepts. The node checks every request against
/// these before the driver sees it, so a driver may rely on them.
public struct BlockLimits: Sendable, Equatable {
    /// Offsets and lengths must be multiples of this (a power of two; 1 = byte granularity;
    /// later 512/4096 for `O_DIRECT`, where the node will add read-modify-write).
    public var requestAlignment: Int
    /// The longest single read or write the driver takes, or `nil` for no limit.
    public var maxTransfer: Int?

    /// Byte granularity, no transfer limit.
    public static let unrestricted = BlockLimits(requestAlignment: 1, maxTransfer: nil)

    /// Creates limits; `requestAlignment` is rounded up to at least 1.
    public init(requestAlignment: Int, maxTransfer: Int?) {
        self.requestAlignment = max(1, requestAlignment)
        self.maxTransfer = maxTransfer
    }
}
