/// What a range of a node holds *in this layer* (``BlockDriver/blockStatus(at:length:)``).
public enum BlockAllocation: String, Sendable, Equatable {
    /// This layer stores data here (it may happen to be zero bytes).
    case data
    /// This layer says the range reads as zeroes (a qcow2 zero cluster, a hole) without storing data.
    case zero
    /// This layer holds nothing: reads come from the backing node, or are zeroes without one.
    case unallocated
}

/// The answer to an allocation query: the kind of the range starting at the asked offset and
/// how many bytes of that kind follow (at least 1, at most the asked length).
public struct BlockStatus: Sendable, Equatable {
    /// What the run holds.
    public var allocation: BlockAllocation
    /// The run's length in bytes.
    public var length: UInt64

    /// Creates a status.
    public init(_ allocation: BlockAllocation, length: UInt64) {
        self.allocation = allocation
        self.length = length
    }
}
