import Dispatch

/// The threads where blocking host calls (`pread`, `fdatasync`, `fallocate`, …) run: a private
/// concurrent dispatch queue, so a call that blocks never holds a thread of Swift's cooperative
/// pool (dispatch adds threads while others block).
public final class BlockIOPool: Sendable {
    private let queue: DispatchQueue

    /// The pool every ``FileDriver`` uses unless it is given its own.
    public static let shared = BlockIOPool(label: "emu.block.io")

    /// A new pool whose threads carry `label`.
    public init(label: String) {
        queue = DispatchQueue(label: label, attributes: .concurrent)
    }

    /// Runs `body` on a pool thread and returns its result; the caller's task is suspended, not
    /// blocked, meanwhile. The work always runs to the end once queued (no cancellation).
    func run<T: Sendable>(_ body: @escaping @Sendable () -> Result<T, BlockError>) async throws(BlockError) -> T {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, BlockError>, Never>) in
            queue.async { continuation.resume(returning: body()) }
        }
        return try result.get()
    }
}
