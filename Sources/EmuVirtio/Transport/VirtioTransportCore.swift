import EmuCore
import Synchronization

/// Why a transport raises its interrupt.
public enum VirtioInterruptReason: Sendable, Hashable {
    /// Buffers were used in queue `index`.
    case queue(Int)
    /// The configuration changed or the device needs a reset.
    case configuration
}

/// The part of a virtio transport that does not depend on how registers are reached: feature
/// negotiation, the device status machine (virtio 1.2 §3.1), queue registers, the interrupt
/// status bits, configuration space bounds. ``VirtioMMIOTransport`` decodes MMIO registers onto
/// it; a PCI transport decodes its capabilities onto the same core.
///
/// Rules it enforces against a misbehaving driver:
/// - writing 0 to the status resets the device: queues, features, interrupts all cleared;
/// - status bits are never cleared except by reset (a write that clears bits keeps them);
/// - `FEATURES_OK` is kept only if the driver's features are a subset of the offered ones and
///   include `VERSION_1`; driver features are frozen once `FEATURES_OK` is set;
/// - `DRIVER_OK` without `FEATURES_OK`, or with an enabled queue whose rings are invalid, sets
///   `DEVICE_NEEDS_RESET` instead of starting the device;
/// - queue registers change only while the queue is disabled and before `DRIVER_OK`; nothing
///   reaches the device model before `DRIVER_OK`.
///
/// The model's ``VirtioDeviceModel/start(_:)`` runs inside the driver's `DRIVER_OK` status write:
/// the write completes only when `start` returns. A device whose rings are served elsewhere (a
/// vhost-user back end) relies on this to finish enabling them before the driver can go on.
public final class VirtioTransportCore: VirtioDeviceHost {
    /// The device model behind the transport.
    public let device: any VirtioDeviceModel
    private let memory: any GuestMemory
    private let offered: VirtioFeatures
    private let maxSizes: [UInt16]
    private let signal: @Sendable (VirtioInterruptReason?, _ statusNonZero: Bool) -> Void
    private let state: Mutex<State>

    struct QueueRegisters {
        var setup: VirtioQueueSetup
        var ready = false
    }

    struct State {
        var status: VirtioDeviceStatus = []
        var driverFeatures: VirtioFeatures = []
        var queues: [QueueRegisters]
        var interruptStatus: UInt32 = 0
        var configGeneration: UInt32 = 0
        var started = false
        var lastError: String?
    }

    /// ISR bit for used buffers.
    public static let interruptUsedBuffer: UInt32 = 1
    /// ISR bit for a configuration change (also used for "needs reset").
    public static let interruptConfiguration: UInt32 = 2

    /// Serves `device` over guest `memory`. `signal` is called, with the transport's lock held
    /// (so calls are ordered), whenever an interrupt is raised (with its reason) or acknowledged
    /// (reason `nil`), with whether any interrupt status bit is still set: a level-triggered
    /// transport follows the second argument, a message-signalled one sends on a reason.
    public init(device: any VirtioDeviceModel, memory: any GuestMemory,
                signal: @escaping @Sendable (VirtioInterruptReason?, _ statusNonZero: Bool) -> Void) {
        self.device = device
        self.memory = memory
        self.offered = device.offeredFeatures.union(.version1)
        self.maxSizes = device.queueMaxSizes.map { min($0, VirtqueueConfiguration.maximumSize) }
        self.signal = signal
        self.state = Mutex(State(queues: maxSizes.map { QueueRegisters(setup: VirtioQueueSetup(size: $0)) }))
    }

    // MARK: Features

    /// The features offered to the driver (the model's plus `VERSION_1`).
    public var offeredFeatures: VirtioFeatures { offered }

    /// 32 bits of the offered features: word 0 is bits 0–31, word 1 bits 32–63, others 0.
    public func offeredFeatureWord(_ word: UInt32) -> UInt32 {
        word < 2 ? UInt32(truncatingIfNeeded: offered.rawValue >> (32 * UInt64(word))) : 0
    }

    /// Sets 32 bits of the driver's features; ignored after `FEATURES_OK` or for words above 1.
    public func setDriverFeatureWord(_ word: UInt32, _ value: UInt32) {
        guard word < 2 else { return }
        state.withLock { s in
            guard !s.status.contains(.featuresOK) else { return }
            let shift = 32 * UInt64(word)
            let kept = s.driverFeatures.rawValue & ~(UInt64(UInt32.max) << shift)
            s.driverFeatures = VirtioFeatures(rawValue: kept | UInt64(value) << shift)
        }
    }

    /// 32 bits of the driver's features as last written.
    public func driverFeatureWord(_ word: UInt32) -> UInt32 {
        guard word < 2 else { return 0 }
        return state.withLock { UInt32(truncatingIfNeeded: $0.driverFeatures.rawValue >> (32 * UInt64(word))) }
    }

    // MARK: Status

    /// The device status.
    public var status: VirtioDeviceStatus { state.withLock { $0.status } }

    /// Why the device last set `DEVICE_NEEDS_RESET`, for logs.
    public var lastError: String? { state.withLock { $0.lastError } }

    /// A driver write of the status register.
    public func writeStatus(_ value: UInt8) {
        guard value != 0 else { return reset() }
        enum Action { case none, start(VirtioFeatures, [VirtqueueConfiguration?]), fail(String) }
        let action: Action = state.withLock { s in
            let old = s.status
            var new = old.union(VirtioDeviceStatus(rawValue: value))  // bits are never cleared
            new.remove(.deviceNeedsReset)
            if old.contains(.deviceNeedsReset) { new.insert(.deviceNeedsReset) }
            if new.contains(.featuresOK) && !old.contains(.featuresOK) {
                let f = s.driverFeatures
                if !offered.isSuperset(of: f) || !f.contains(.version1) { new.remove(.featuresOK) }
            }
            var action = Action.none
            if new.contains(.driverOK) && !old.contains(.driverOK) {
                if !new.contains(.featuresOK) {
                    new.remove(.driverOK)
                    action = .fail("DRIVER_OK without FEATURES_OK")
                } else {
                    let f = s.driverFeatures
                    let configs: [VirtqueueConfiguration?] = s.queues.map { q in
                        guard q.ready else { return nil }
                        return VirtqueueConfiguration(
                            format: f.contains(.ringPacked) ? .packed : .split, size: q.setup.size,
                            descriptorArea: q.setup.descriptorArea, driverArea: q.setup.driverArea,
                            deviceArea: q.setup.deviceArea,
                            eventIndex: f.contains(.eventIndex), indirectDescriptors: f.contains(.indirectDescriptors))
                    }
                    action = .start(f, configs)
                }
            }
            s.status = new
            return action
        }
        switch action {
        case .none: return
        case .fail(let why): needsReset(because: why)
        case .start(let features, let configs):
            var queues: [VirtqueueHandle?] = []
            for (i, config) in configs.enumerated() {
                guard let config else { queues.append(nil); continue }
                do { queues.append(VirtqueueHandle(index: i, try makeVirtqueue(config, memory: memory))) } catch {
                    return needsReset(because: "queue \(i): \(error)")
                }
            }
            let started = state.withLock { s in
                guard s.status.contains(.driverOK), !s.started else { return false }  // reset meanwhile
                s.started = true
                return true
            }
            if started {
                device.start(VirtioDeviceContext(features: features, memory: memory, queues: queues, host: self,
                                                 queueConfigurations: configs))
            }
        }
    }

    /// Device reset: every register to its initial value, interrupts cleared, the model reset.
    public func reset() {
        state.withLock { s in
            s = State(queues: maxSizes.map { QueueRegisters(setup: VirtioQueueSetup(size: $0)) }, configGeneration: s.configGeneration)
            signal(nil, false)
        }
        device.reset()
    }

    // MARK: Queues

    /// The number of queues.
    public var queueCount: Int { maxSizes.count }

    /// The largest size of queue `index`; 0 for a queue that does not exist.
    public func queueMaxSize(_ index: UInt32) -> UInt16 {
        index < maxSizes.count ? maxSizes[Int(index)] : 0
    }

    /// The set-up of queue `index` as the driver wrote it (all zero for a queue that does not
    /// exist).
    public func queueSetup(_ index: UInt32) -> VirtioQueueSetup {
        guard index < maxSizes.count else { return VirtioQueueSetup(size: 0) }
        return state.withLock { $0.queues[Int(index)].setup }
    }

    /// Whether queue `index` is enabled.
    public func isQueueReady(_ index: UInt32) -> Bool {
        index < maxSizes.count && state.withLock { $0.queues[Int(index)].ready }
    }

    /// Changes the set-up of queue `index` (ignored for a queue that does not exist, is enabled,
    /// or after `DRIVER_OK`). Sizes are checked when the queue is enabled.
    public func updateQueue(_ index: UInt32, _ change: (inout VirtioQueueSetup) -> Void) {
        guard index < maxSizes.count else { return }
        state.withLock { s in
            let i = Int(index)
            guard !s.queues[i].ready, !s.status.contains(.driverOK) else { return }
            change(&s.queues[i].setup)
        }
    }

    /// Enables or disables queue `index` before `DRIVER_OK`. Enabling a queue whose size is 0 or
    /// above its maximum is refused (it stays disabled).
    public func setQueueReady(_ index: UInt32, _ ready: Bool) {
        guard index < maxSizes.count else { return }
        state.withLock { s in
            let i = Int(index)
            guard !s.status.contains(.driverOK) else { return }
            let size = s.queues[i].setup.size
            s.queues[i].ready = ready && size > 0 && size <= maxSizes[i]
        }
    }

    /// The driver notified queue `index`: passed to the model only while the device runs.
    public func notify(queue index: UInt32) {
        guard index < maxSizes.count, state.withLock({ $0.started && $0.status.contains(.driverOK) }) else { return }
        device.queueNotified(Int(index))
    }

    // MARK: Interrupts and configuration

    /// The interrupt status bits (``interruptUsedBuffer``, ``interruptConfiguration``).
    public var interruptStatus: UInt32 { state.withLock { $0.interruptStatus } }

    /// Reads and clears the interrupt status, as a PCI ISR read does.
    public func takeInterruptStatus() -> UInt32 {
        state.withLock { s in
            let bits = s.interruptStatus
            s.interruptStatus = 0
            if bits != 0 { signal(nil, false) }
            return bits
        }
    }

    /// Clears the given interrupt status bits (MMIO InterruptACK).
    public func acknowledgeInterrupts(_ bits: UInt32) {
        state.withLock { s in
            s.interruptStatus &= ~bits
            signal(nil, s.interruptStatus != 0)
        }
    }

    /// The configuration generation (changes whenever the device changes its configuration).
    public var configGeneration: UInt32 { state.withLock { $0.configGeneration } }

    /// Reads device configuration: 0 where `offset`/`size` fall outside the model's space.
    public func readConfig(offset: UInt64, size: Int) -> UInt32 {
        guard [1, 2, 4].contains(size), offset <= UInt64(device.configSize), Int(offset) + size <= device.configSize else { return 0 }
        return device.readConfig(offset: Int(offset), size: size)
    }

    /// Writes device configuration; ignored outside the model's space.
    public func writeConfig(offset: UInt64, size: Int, value: UInt32) {
        guard [1, 2, 4].contains(size), offset <= UInt64(device.configSize), Int(offset) + size <= device.configSize else { return }
        device.writeConfig(offset: Int(offset), size: size, value: value)
    }

    // MARK: VirtioDeviceHost

    public func usedBuffers(queue index: Int) {
        state.withLock { s in
            guard s.started else { return }
            s.interruptStatus |= Self.interruptUsedBuffer
            signal(.queue(index), true)
        }
    }

    public func configurationChanged() {
        state.withLock { s in
            s.configGeneration &+= 1
            guard s.status.contains(.driverOK) else { return }
            s.interruptStatus |= Self.interruptConfiguration
            signal(.configuration, true)
        }
    }

    public func needsReset(because reason: String) {
        state.withLock { s in
            s.lastError = reason
            s.status.insert(.deviceNeedsReset)
            guard s.status.contains(.driverOK) else { return }
            s.interruptStatus |= Self.interruptConfiguration
            signal(.configuration, true)
        }
    }
}

/// The set-up of one queue as the driver writes it through a transport: checked only when the
/// driver sets `DRIVER_OK` (see ``makeVirtqueue(_:memory:)``).
public struct VirtioQueueSetup: Sendable, Hashable {
    /// Number of descriptors (initially the queue's maximum).
    public var size: UInt16
    /// Descriptor table or ring.
    public var descriptorArea: UInt64 = 0
    /// Available ring or driver event suppression.
    public var driverArea: UInt64 = 0
    /// Used ring or device event suppression.
    public var deviceArea: UInt64 = 0

    /// A set-up of `size` with all areas at 0.
    public init(size: UInt16) { self.size = size }
}
