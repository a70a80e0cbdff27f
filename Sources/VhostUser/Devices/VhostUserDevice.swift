import EmuCore
import EmuVirtio
import Synchronization

/// A virtio device whose rings a vhost-user back end serves: plug it into any EmuVirtio
/// transport and the guest sees the back end's device type. The front end keeps the control
/// plane; requests go by eventfd straight to the back end (``queueNotified(_:)`` signals the
/// ring's kick fd) and the back end's call fds raise the transport's used-buffer interrupt.
///
/// - Features: the back end's device-type bits (0–23) and the ring features the transports
///   understand; the driver's choice is passed on with SET_FEATURES at `DRIVER_OK`.
/// - Configuration space: read once with GET_CONFIG when the device is made (and after each
///   reset); driver writes go to the back end with SET_CONFIG.
/// - Start (`DRIVER_OK`): SET_FEATURES, then per enabled queue SET_VRING_NUM, SET_VRING_BASE,
///   SET_VRING_ADDR, SET_VRING_KICK, SET_VRING_CALL, and last SET_VRING_ENABLE, acknowledged
///   (seed 002): the transport's `DRIVER_OK` write returns only after the back end confirmed
///   every ring enabled, so the guest's first request cannot reach a ring the back end still
///   holds disabled.
/// - Reset: each started ring is disabled and stopped with GET_VRING_BASE.
/// - Failure: a back end that hangs up, times out or answers wrongly marks the device broken;
///   it then sets `DEVICE_NEEDS_RESET` (if started) and refuses to start again. No call waits
///   longer than the connection's timeout, so a dead back end never hangs the VMM.
public final class VhostUserDevice: VirtioDeviceModel {
    public let deviceType: VirtioDeviceType
    public let offeredFeatures: VirtioFeatures
    public let queueMaxSizes: [UInt16]
    public let configSize: Int
    /// The control plane.
    public let frontEnd: VhostUserFrontEnd
    /// What negotiation with the back end established.
    public let negotiation: VhostUserFrontEnd.Negotiation
    private let regions: [VhostUserGuestRegion]
    private let loop: EventLoop
    private let kicks: [EventNotifier]
    private let calls: [EventNotifier]
    private let state: Mutex<State>
    private let hangupWatch: Mutex<FDHandler?> = Mutex(nil)
    private let barrier = Atomic<Bool>(true)

    private struct State {
        var config: [UInt8]
        var host: (any VirtioDeviceHost)?
        var startedRings: [Int] = []
        var packed = false
        var callHandlers: [FDHandler] = []
        var broken: String?
    }

    /// The device-type feature bits (0–23) plus the ring features a transport handles.
    static let passedFeatures = VirtioFeatures(rawValue: (1 << 24) - 1).union(.ringFeatures)

    /// Negotiates with the back end behind `frontEnd`, sends it the memory table for `regions`
    /// and reads `configSize` bytes of configuration space (with the `CONFIG` protocol feature;
    /// zeros otherwise). Call fds are watched on `loop`, which also watches the socket for the
    /// back end hanging up.
    ///
    /// - Parameters:
    ///   - queueCount: queues to expose; at most what the back end reports.
    ///   - queueSize: each queue's maximum size.
    /// - Throws: ``VhostUserError`` from the exchanges, ``VhostUserError/unsupported(_:)`` when the
    ///   back end has fewer queues or lacks `VERSION_1`, ``VhostUserError/system(_:)`` when an
    ///   eventfd cannot be made.
    public init(frontEnd: VhostUserFrontEnd, deviceType: VirtioDeviceType, configSize: Int, regions: [VhostUserGuestRegion],
                queueCount: Int, queueSize: UInt16 = 256, loop: EventLoop) throws(VhostUserError) {
        let negotiation: VhostUserFrontEnd.Negotiation
        if let done = frontEnd.negotiation { negotiation = done } else { negotiation = try frontEnd.negotiate() }
        guard queueCount >= 1, UInt64(queueCount) <= negotiation.queueCount, queueCount <= 256 else {
            throw .unsupported("\(queueCount) queues asked, back end has \(negotiation.queueCount)")
        }
        let offered = VirtioFeatures(rawValue: negotiation.backEndFeatures)
        guard offered.contains(.version1) else { throw .unsupported("back end does not offer VERSION_1") }
        try frontEnd.setMemTable(regions)
        var config = [UInt8](repeating: 0, count: min(configSize, VhostUserConfigPayload.maximumSize))
        if negotiation.protocolFeatures.contains(.config), !config.isEmpty {
            config = try frontEnd.getConfig(offset: 0, size: config.count)
        }
        var kicks: [EventNotifier] = [], calls: [EventNotifier] = []
        do {
            for _ in 0..<queueCount { kicks.append(try EventNotifier()); calls.append(try EventNotifier()) }
        } catch { throw .system(error) }
        self.frontEnd = frontEnd
        self.negotiation = negotiation
        self.deviceType = deviceType
        self.offeredFeatures = offered.intersection(Self.passedFeatures)
        self.queueMaxSizes = Array(repeating: queueSize, count: queueCount)
        self.configSize = config.count
        self.regions = regions
        self.loop = loop
        self.kicks = kicks
        self.calls = calls
        self.state = Mutex(State(config: config))
        let connection = frontEnd.connection
        let watch = loop.addHandler(fd: connection.socket.fd, events: [.hangup, .error]) { [weak self] events in
            guard events.contains(.hangup) || events.contains(.error) || events.contains(.invalid) else { return }
            connection.markBroken(.disconnected)
            self?.fail("the vhost-user back end disconnected")
        }
        hangupWatch.withLock { $0 = watch }
    }

    deinit {
        hangupWatch.withLock { $0?.remove() }
        state.withLock { $0.callHandlers.forEach { $0.remove() } }
    }

    /// Why the device is broken, or `nil` while it works.
    public var brokenReason: String? { state.withLock { $0.broken } }

    /// Test-only: whether SET_VRING_ENABLE is acknowledged before `DRIVER_OK` completes (seed
    /// 002). Turning it off reintroduces the race; only tests that show the race do that.
    @_spi(Testing) public var ringEnableBarrier: Bool {
        get { barrier.load(ordering: .relaxed) }
        set { barrier.store(newValue, ordering: .relaxed) }
    }

    public func readConfig(offset: Int, size: Int) -> UInt32 {
        state.withLock { s in
            var v: UInt32 = 0
            for i in 0..<size where offset + i < s.config.count { v |= UInt32(s.config[offset + i]) << (8 * UInt32(i)) }
            return v
        }
    }

    public func writeConfig(offset: Int, size: Int, value: UInt32) {
        let bytes = (0..<size).map { UInt8(truncatingIfNeeded: value >> (8 * UInt32($0))) }
        let ok = state.withLock { s -> Bool in
            guard s.broken == nil, offset + size <= s.config.count else { return false }
            for (i, b) in bytes.enumerated() { s.config[offset + i] = b }
            return true
        }
        guard ok, negotiation.protocolFeatures.contains(.config) else { return }
        do { try frontEnd.setConfig(offset: UInt32(offset), bytes: bytes) } catch { fail("SET_CONFIG: \(error)") }
    }

    public func start(_ context: VirtioDeviceContext) {
        let broken = state.withLock { s -> String? in
            s.host = context.host
            return s.broken
        }
        if let broken { return context.host.needsReset(because: broken) }
        do {
            try frontEnd.setFeatures(context.features.rawValue)
            var started: [Int] = []
            for (i, configuration) in context.queueConfigurations.enumerated() where i < kicks.count {
                guard let configuration else { continue }
                try setUpRing(i, configuration)
                started.append(i)
            }
            // The back end may signal a call fd as soon as it has it (qemu-storage-daemon does):
            // nothing is used yet, so drop those before watching.
            calls.forEach { $0.testAndClear() }
            let host = context.host
            let handlers = started.map { i in loop.addHandler(notifier: calls[i]) { host.usedBuffers(queue: i) } }
            state.withLock { s in
                s.startedRings = started
                s.packed = context.features.contains(.ringPacked)
                s.callHandlers = handlers
            }
            if negotiation.protocolFeaturesSupported {
                let acknowledged = ringEnableBarrier
                for i in started { try frontEnd.setVringEnable(i, true, barrier: acknowledged) }
            }
        } catch {
            fail("starting: \(error)")
        }
    }

    private func setUpRing(_ i: Int, _ c: VirtqueueConfiguration) throws(VhostUserError) {
        let n = UInt64(c.size)
        let packed = c.format == .packed
        let descriptorBytes = 16 * n
        let driverBytes = packed ? 4 : 6 + 2 * n
        let deviceBytes = packed ? 4 : 6 + 8 * n
        func translate(_ address: UInt64, _ length: UInt64) throws(VhostUserError) -> UInt64 {
            guard let user = VhostUserGuestRegion.userAddress(of: address, length: length, in: regions) else {
                throw .unsupported("ring \(i) area at 0x\(String(address, radix: 16)) is not in shared memory")
            }
            return user
        }
        try frontEnd.setVringNum(i, size: c.size)
        try frontEnd.setVringBase(i, base: packed ? 0x8000 : 0)  // a fresh ring; packed: wrap counter 1
        try frontEnd.setVringAddress(VhostUserVringAddress(
            index: UInt32(i), descriptor: try translate(c.descriptorArea, descriptorBytes),
            used: try translate(c.deviceArea, deviceBytes), available: try translate(c.driverArea, driverBytes)))
        try frontEnd.setVringFile(.setVringKick, i, fd: kicks[i].fd)
        try frontEnd.setVringFile(.setVringCall, i, fd: calls[i].fd)
    }

    public func queueNotified(_ index: Int) {
        guard index >= 0, index < kicks.count else { return }
        kicks[index].notify()
    }

    public func reset() {
        let (rings, handlers) = state.withLock { s in
            defer { s.startedRings = []; s.callHandlers = []; s.host = nil }
            return (s.broken == nil ? s.startedRings : [], s.callHandlers)
        }
        handlers.forEach { $0.remove() }
        do {
            for i in rings {
                if negotiation.protocolFeaturesSupported { try frontEnd.setVringEnable(i, false) }
                _ = try frontEnd.getVringBase(i)
            }
            if negotiation.protocolFeatures.contains(.config), configSize > 0 {
                let config = try frontEnd.getConfig(offset: 0, size: configSize)
                state.withLock { $0.config = config }
            }
        } catch {
            fail("stopping: \(error)")
        }
    }

    /// Marks the device broken and, if a driver runs it, asks for a reset.
    private func fail(_ reason: String) {
        let host = state.withLock { s -> (any VirtioDeviceHost)? in
            if s.broken == nil { s.broken = reason }
            s.callHandlers.forEach { $0.remove() }
            s.callHandlers = []
            return s.host
        }
        hangupWatch.withLock { $0?.remove(); $0 = nil }
        frontEnd.connection.markBroken(.broken(reason))
        host?.needsReset(because: reason)
    }
}
