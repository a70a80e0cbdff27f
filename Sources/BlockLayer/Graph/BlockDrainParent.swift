/// A user of a node that must be quiesced when the node is drained: a device backend now, a job
/// later. The node holds its parents weakly.
public protocol BlockDrainParent: AnyObject, Sendable {
    /// Stops submitting new requests to the node and returns when the parent has none in flight.
    /// Nests.
    func drainedBegin() async
    /// Ends one section opened by ``drainedBegin()``. Throws `unbalancedDrain` without one.
    func drainedEnd() throws(BlockError)
}
