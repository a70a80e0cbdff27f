import EmuCore
import EmuVirtio

/// A device model served by ``VhostUserBackEnd``: what it offers, and how it answers one request.
public protocol VhostUserBackEndHandler: Sendable {
    /// The virtio features offered (include `VERSION_1`; the back end adds bit 30 itself).
    var features: VirtioFeatures { get }
    /// The number of queues (GET_QUEUE_NUM).
    var queueCount: Int { get }
    /// The configuration space (GET_CONFIG reads it, at most 256 bytes).
    var config: [UInt8] { get }
    /// Answers one chain popped from queue `queue`: read its readable buffers and write its
    /// writable ones through `memory` (the front end's RAM, mapped here). Returns the number of
    /// bytes written. Runs on the back end's data-plane thread.
    func handle(_ element: VirtqueueElement, queue: Int, memory: FlatGuestMemory) -> UInt32
}
