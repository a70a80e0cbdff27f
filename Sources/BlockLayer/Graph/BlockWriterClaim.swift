import Synchronization

/// Proof that a parent holds a node's single write permission. Release it with ``release()``
/// (idempotent); a claim that is dropped without release keeps the node claimed, on purpose:
/// losing a writer silently is worse than a visible conflict.
public final class BlockWriterClaim: Sendable {
    /// The node this claim is on.
    public let node: BlockNode
    /// Who holds it (shown in the conflict error).
    public let holder: String
    let id: UInt64
    private let released = Atomic<Bool>(false)

    init(node: BlockNode, holder: String, id: UInt64) {
        self.node = node
        self.holder = holder
        self.id = id
    }

    /// Gives the write permission back; later calls do nothing.
    public func release() {
        if released.exchange(true, ordering: .acquiringAndReleasing) { return }
        node.releaseWriter(id: id)
    }
}
