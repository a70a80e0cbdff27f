/// The IR of one translation block: straight-line operations, then one exit.
public struct IRBlock: Sendable, Equatable {
    /// Guest address of the first instruction.
    public var start: UInt64
    /// One past the last guest byte translated (for invalidation when guest code is written).
    public var end: UInt64
    /// Guest instructions in the block.
    public var instructionCount: Int
    public var ops: [IROp]
    public var exit: IRExit
    /// Number of temps used (all below this).
    public var tempCount: Int
}
