#if canImport(Glibc)
import Glibc
#endif

/// Questions about backing chains (a node and its `backing` children, top first).
public enum BlockChain {
    /// The deepest chain a walk follows (ImageOpener refuses deeper ones).
    static let maximumDepth = 64

    /// Whether `node` is in `top`'s backing chain strictly below `top`.
    public static func isBelow(_ node: BlockNode, top: BlockNode) -> Bool {
        var current = top.children[.backing]
        var depth = 0
        while let n = current, depth <= maximumDepth {
            if n === node { return true }
            current = n.children[.backing]
            depth += 1
        }
        return false
    }

    /// Whether some layer from `top` down to, not including, `base` (`nil`: the whole chain)
    /// holds the range at `offset` itself (data or zeroes), and for how many bytes from `offset`
    /// (1...`length`) that answer holds. A layer shorter than `offset` holds nothing there, and
    /// neither do the layers below it. Throws the layers' errors.
    public static func isAllocated(from top: BlockNode, above base: BlockNode?, at offset: UInt64,
                                   length: UInt64) async throws(BlockError) -> (allocated: Bool, length: UInt64) {
        var run = length
        var current: BlockNode? = top
        var depth = 0
        while let node = current, node !== base, depth <= maximumDepth {
            guard offset < node.length else { break }
            let status = try await node.blockStatus(at: offset, length: min(run, node.length - offset))
            if status.allocation != .unallocated { return (true, status.length) }
            run = min(run, status.length)
            current = node.children[.backing]
            depth += 1
        }
        return (false, run)
    }
}

extension BlockChain {
    /// The name an image records for `node` as its backing file: the node's path made absolute
    /// (nodes opened by ``ImageOpener`` are named by path), so the chain opens from anywhere.
    public static func recordedName(_ node: BlockNode) -> String {
        guard !node.name.hasPrefix("/"), let cwd = getcwd(nil, 0) else { return node.name }
        defer { free(cwd) }
        return String(cString: cwd) + "/" + node.name
    }
}
