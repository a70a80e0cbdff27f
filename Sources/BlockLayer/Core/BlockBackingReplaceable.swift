/// A format driver whose backing node can be changed while it is open, with the change recorded
/// in the image (qcow2's backing file name and format). Stream and commit jobs use it to drop
/// images from a chain.
public protocol BlockBackingReplaceable: BlockDriver {
    /// Makes `node` the backing node (`nil`: none), and records `name` and `format` in the image
    /// so that a later open finds the same chain. The caller guarantees `node` reads the same data
    /// as the old backing for every range this image does not hold itself (that is what stream and
    /// commit establish before calling), and holds a drained section of the node above.
    /// Throws `readOnly`, or the image's errors (the old backing then stays).
    func replaceBacking(with node: BlockNode?, recordedAs name: String?, format: String?) async throws(BlockError)
}
