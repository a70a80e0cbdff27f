import EmuCore
import Synchronization

/// What a virtio device model implements; a transport (``VirtioMMIOTransport``, ``VirtioPCITransport``) does
/// the rest: registers, feature negotiation, the status machine, queue set-up and interrupts.
///
/// The transport guarantees: ``start(_:)`` only after the driver set `DRIVER_OK` with accepted
/// features and valid queues; ``queueNotified(_:)`` only between `start` and ``reset()``;
/// ``reset()`` on every device reset (including one before any start). Calls may come from any
/// thread (vCPU threads write the registers); the model synchronises itself.
public protocol VirtioDeviceModel: AnyObject, Sendable {
    /// The device ID the transport reports.
    var deviceType: VirtioDeviceType { get }
    /// Device-type feature bits, plus the ring features (``VirtioFeatures/ringFeatures``) the
    /// model can work with. The transport adds ``VirtioFeatures/version1``.
    var offeredFeatures: VirtioFeatures { get }
    /// The largest size of each queue; the count is the number of queues.
    var queueMaxSizes: [UInt16] { get }
    /// The size of the device-specific configuration space in bytes.
    var configSize: Int { get }

    /// Reads `size` (1, 2 or 4) bytes of configuration space at `offset` (little-endian); the
    /// transport has checked `offset + size <= configSize`.
    func readConfig(offset: Int, size: Int) -> UInt32
    /// Writes configuration space; same guarantees as ``readConfig(offset:size:)``.
    func writeConfig(offset: Int, size: Int, value: UInt32)

    /// The driver is ready: `context` holds the negotiated features, guest memory, the queues the
    /// driver enabled, and the way back to the transport. The model owns the queues from now on.
    func start(_ context: VirtioDeviceContext)
    /// The driver notified (kicked) queue `index`.
    func queueNotified(_ index: Int)
    /// Forget the queues and the features; when this returns the model no longer touches guest
    /// memory or the context it was started with.
    func reset()
}

extension VirtioDeviceModel {
    /// No configuration space: reads are zero.
    public func readConfig(offset: Int, size: Int) -> UInt32 { 0 }
    /// No configuration space: writes are ignored.
    public func writeConfig(offset: Int, size: Int, value: UInt32) {}
}

/// What a device model calls back on its transport. Thread-safe.
public protocol VirtioDeviceHost: AnyObject, Sendable {
    /// The device put buffers in queue `index`'s used ring and the queue said the driver wants
    /// an interrupt (``Virtqueue/shouldInterrupt()``): raise the used-buffer interrupt.
    func usedBuffers(queue index: Int)
    /// The device's configuration changed: bump the generation and raise the config interrupt.
    func configurationChanged()
    /// The device cannot go on (e.g. the driver broke a ring): set `DEVICE_NEEDS_RESET` and raise
    /// the config interrupt; the driver must reset the device.
    func needsReset(because reason: String)
}

/// Everything a started device works with.
public struct VirtioDeviceContext: Sendable {
    /// The features the driver accepted.
    public let features: VirtioFeatures
    /// Guest memory for the rings and buffers.
    public let memory: any GuestMemory
    /// One entry per queue of the model; `nil` where the driver did not enable the queue.
    public let queues: [VirtqueueHandle?]
    /// The transport, for interrupts and errors.
    public let host: any VirtioDeviceHost
    /// The validated ring layout of each queue (`nil` where not enabled), for a device whose
    /// rings are served elsewhere (a vhost-user back end in another process): it passes sizes and
    /// addresses on instead of using ``queues``. Empty when the creator did not provide them.
    public let queueConfigurations: [VirtqueueConfiguration?]

    /// Creates a context (transports do; tests of a model may too).
    public init(features: VirtioFeatures, memory: any GuestMemory, queues: [VirtqueueHandle?], host: any VirtioDeviceHost,
                queueConfigurations: [VirtqueueConfiguration?] = []) {
        self.features = features
        self.memory = memory
        self.queues = queues
        self.host = host
        self.queueConfigurations = queueConfigurations
    }
}

/// A started queue behind its own lock, so a device can share it between the thread that is
/// notified and the thread that completes requests. The queue itself is not `Sendable`; it is
/// only reachable through ``withQueue(_:)``.
public final class VirtqueueHandle: Sendable {
    /// The queue's number in its device.
    public let index: Int
    private let queue: Mutex<any Virtqueue>

    /// Takes ownership of `queue`.
    public init(index: Int, _ queue: sending any Virtqueue) {
        self.index = index
        self.queue = Mutex(queue)
    }

    /// Runs `body` with the queue, holding its lock.
    /// - Throws: what `body` throws.
    public func withQueue<R: Sendable, E: Error>(_ body: (any Virtqueue) throws(E) -> R) throws(E) -> R {
        try queue.withLock { (q) throws(E) -> R in try body(q) }
    }
}
