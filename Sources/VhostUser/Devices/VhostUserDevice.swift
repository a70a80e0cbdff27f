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
///   it then sets `DEVICE_NEEDS_RESET` (if started). No call waits longer than the connection's
///   timeout, so a dead back end never hangs the VMM.
/// - Reconnect (with a ``Reconnector``): after a hang-up the device connects again, negotiates
///   from scratch (the back end must offer at least the features the guest was offered), sends
///   the memory table and, if the guest was running, restores every split ring at its used
///   index. With in-flight tracking (the back end offers `INFLIGHT_SHMFD`) the device asks
///   for the back end's in-flight region at start (GET_INFLIGHT_FD), keeps it until reset and
///   gives it back (SET_INFLIGHT_FD) before every ring set-up, so a new back end resubmits the
///   requests its predecessor took and did not finish. Without tracking, rings are restored
///   only if no request was outstanding (available index = used index): a request the old back
///   end took could otherwise be lost or answered twice, so then the device reports itself
///   broken instead. A broken device also tries to reconnect when the driver resets it.
public final class VhostUserDevice: VirtioDeviceModel {
    public let deviceType: VirtioDeviceType
    public let offeredFeatures: VirtioFeatures
    public let queueMaxSizes: [UInt16]
    public let configSize: Int
    private let regions: [VhostUserGuestRegion]
    private let loop: EventLoop
    private let kicks: [EventNotifier]
    private let calls: [EventNotifier]
    private let reconnector: Reconnector?
    private let state: Mutex<State>
    /// Held by whoever talks to the back end to start, stop or restore rings (start, reset,
    /// reconnect), so those never interleave; never held while waiting on anything but the socket.
    private let control = Mutex(())
    private let barrier = Atomic<Bool>(true)
    private let reconnects = Atomic<Int>(0)
    private let tracking = Atomic<Bool>(true)

    /// How to reach the back end again after it went away.
    public struct Reconnector: Sendable {
        /// Makes a new connection (e.g. ``VhostUserConnection/init(path:timeout:)`` again).
        public var connect: @Sendable () throws(VhostUserError) -> VhostUserConnection
        /// Connection attempts before the device gives up and reports itself broken.
        public var attempts: Int
        /// The pause between attempts.
        public var delay: Duration

        /// A reconnector trying `attempts` times, `delay` apart.
        public init(attempts: Int = 50, delay: Duration = .milliseconds(100),
                    connect: @escaping @Sendable () throws(VhostUserError) -> VhostUserConnection) {
            self.connect = connect
            self.attempts = max(1, attempts)
            self.delay = delay
        }
    }

    private struct State {
        var frontEnd: VhostUserFrontEnd
        var negotiation: VhostUserFrontEnd.Negotiation
        var hangupWatch: FDHandler?
        var config: [UInt8]
        var host: (any VirtioDeviceHost)?
        var memory: (any GuestMemory)?
        var features: VirtioFeatures = []
        var rings: [(index: Int, configuration: VirtqueueConfiguration)] = []
        var callHandlers: [FDHandler] = []
        var broken: String?
        /// The back end's in-flight region, kept from the device's start until its reset.
        var inflight: VhostUserInflightShare?
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
    ///   - reconnector: how to reach the back end again after it goes away (`nil`: the device
    ///     stays broken).
    /// - Throws: ``VhostUserError`` from the exchanges, ``VhostUserError/unsupported(_:)`` when the
    ///   back end has fewer queues or lacks `VERSION_1`, ``VhostUserError/system(_:)`` when an
    ///   eventfd cannot be made.
    public init(frontEnd: VhostUserFrontEnd, deviceType: VirtioDeviceType, configSize: Int, regions: [VhostUserGuestRegion],
                queueCount: Int, queueSize: UInt16 = 256, loop: EventLoop, reconnector: Reconnector? = nil) throws(VhostUserError) {
        let (negotiation, config) = try Self.attach(frontEnd, regions: regions, queueCount: queueCount,
                                                    configSize: min(max(configSize, 0), VhostUserConfigPayload.maximumSize))
        let offered = VirtioFeatures(rawValue: negotiation.backEndFeatures)
        guard offered.contains(.version1) else { throw .unsupported("back end does not offer VERSION_1") }
        var kicks: [EventNotifier] = [], calls: [EventNotifier] = []
        do {
            for _ in 0..<queueCount { kicks.append(try EventNotifier()); calls.append(try EventNotifier()) }
        } catch { throw .system(error) }
        self.deviceType = deviceType
        self.offeredFeatures = offered.intersection(Self.passedFeatures)
        self.queueMaxSizes = Array(repeating: queueSize, count: queueCount)
        self.configSize = config.count
        self.regions = regions
        self.loop = loop
        self.kicks = kicks
        self.calls = calls
        self.reconnector = reconnector
        self.state = Mutex(State(frontEnd: frontEnd, negotiation: negotiation, config: config))
        watchHangup(of: frontEnd.connection)
    }

    /// Connects to a back end of any device type at `socketPath` (virtio-fs from virtiofsd,
    /// say: type 26, its config size, its queue count) and makes the device; with `reconnect`,
    /// it connects to the same path again after the back end went away.
    /// - Throws: ``VhostUserError``.
    public static func connect(socketPath: String, deviceType: VirtioDeviceType, configSize: Int, queueCount: Int,
                               regions: [VhostUserGuestRegion], loop: EventLoop, queueSize: UInt16 = 256,
                               timeout: Duration = .seconds(5), reconnect: Bool = false) throws(VhostUserError) -> VhostUserDevice {
        let frontEnd = VhostUserFrontEnd(connection: try VhostUserConnection(path: socketPath, timeout: timeout))
        let reconnector = reconnect ? Reconnector { () throws(VhostUserError) in
            try VhostUserConnection(path: socketPath, timeout: timeout)
        } : nil
        return try VhostUserDevice(frontEnd: frontEnd, deviceType: deviceType, configSize: configSize, regions: regions,
                                   queueCount: queueCount, queueSize: queueSize, loop: loop, reconnector: reconnector)
    }

    deinit {
        state.withLock { s in
            s.hangupWatch?.remove()
            s.callHandlers.forEach { $0.remove() }
        }
    }

    /// Negotiates (unless done), checks the queue count, sends the memory table, reads config.
    private static func attach(_ frontEnd: VhostUserFrontEnd, regions: [VhostUserGuestRegion], queueCount: Int,
                               configSize: Int) throws(VhostUserError) -> (VhostUserFrontEnd.Negotiation, [UInt8]) {
        let negotiation: VhostUserFrontEnd.Negotiation
        if let done = frontEnd.negotiation { negotiation = done } else { negotiation = try frontEnd.negotiate() }
        guard queueCount >= 1, UInt64(queueCount) <= negotiation.queueCount, queueCount <= 256 else {
            throw .unsupported("\(queueCount) queues asked, back end has \(negotiation.queueCount)")
        }
        try frontEnd.setMemTable(regions)
        var config = [UInt8](repeating: 0, count: configSize)
        if negotiation.protocolFeatures.contains(.config), !config.isEmpty {
            config = try frontEnd.getConfig(offset: 0, size: config.count)
        }
        return (negotiation, config)
    }

    private func watchHangup(of connection: VhostUserConnection) {
        let watch = loop.addHandler(fd: connection.socket.fd, events: [.hangup, .error]) { [weak self] events in
            guard events.contains(.hangup) || events.contains(.error) || events.contains(.invalid) else { return }
            self?.lost(connection)
        }
        state.withLock { s in
            s.hangupWatch?.remove()
            s.hangupWatch = watch
        }
    }

    /// The control plane now in use.
    public var frontEnd: VhostUserFrontEnd { state.withLock { $0.frontEnd } }
    /// What negotiation with the back end (the latest one, after a reconnect) established.
    public var negotiation: VhostUserFrontEnd.Negotiation { state.withLock { $0.negotiation } }
    /// Why the device is broken, or `nil` while it works.
    public var brokenReason: String? { state.withLock { $0.broken } }
    /// How many times the device reconnected to its back end.
    public var reconnectCount: Int { reconnects.load(ordering: .acquiring) }

    /// Test-only: whether SET_VRING_ENABLE is acknowledged before `DRIVER_OK` completes (seed
    /// 002). Turning it off reintroduces the race; only tests that show the race do that.
    @_spi(Testing) public var ringEnableBarrier: Bool {
        get { barrier.load(ordering: .relaxed) }
        set { barrier.store(newValue, ordering: .relaxed) }
    }

    /// Test-only: whether in-flight tracking (`INFLIGHT_SHMFD`) is used when the back end offers
    /// it. Turning it off makes a reconnect with requests outstanding ask for a reset again;
    /// only tests that show what tracking buys do that.
    @_spi(Testing) public var inflightTracking: Bool {
        get { tracking.load(ordering: .relaxed) }
        set { tracking.store(newValue, ordering: .relaxed) }
    }

    /// The back end's in-flight region the device holds (from start until reset), or `nil`
    /// when the back end does not offer in-flight tracking or no driver started the device.
    public var inflightShare: VhostUserInflightShare? { state.withLock { $0.inflight } }

    public func readConfig(offset: Int, size: Int) -> UInt32 {
        state.withLock { s in
            var v: UInt32 = 0
            for i in 0..<size where offset + i < s.config.count { v |= UInt32(s.config[offset + i]) << (8 * UInt32(i)) }
            return v
        }
    }

    public func writeConfig(offset: Int, size: Int, value: UInt32) {
        let bytes = (0..<size).map { UInt8(truncatingIfNeeded: value >> (8 * UInt32($0))) }
        let target = state.withLock { s -> (VhostUserFrontEnd, Bool)? in
            guard s.broken == nil, offset + size <= s.config.count else { return nil }
            for (i, b) in bytes.enumerated() { s.config[offset + i] = b }
            return (s.frontEnd, s.negotiation.protocolFeatures.contains(.config))
        }
        guard let (frontEnd, hasConfig) = target, hasConfig else { return }
        do { try frontEnd.setConfig(offset: UInt32(offset), bytes: bytes) } catch { fail("SET_CONFIG: \(error)") }
    }

    public func start(_ context: VirtioDeviceContext) {
        control.withLock { _ in
            var broken = state.withLock { s -> String? in
                s.host = context.host
                s.memory = context.memory
                s.features = context.features
                s.rings = []
                return s.broken
            }
            if broken != nil, reconnector != nil {
                broken = reconnectHoldingControl(restoreRings: false)
            }
            if let broken { return context.host.needsReset(because: broken) }
            var rings: [(index: Int, configuration: VirtqueueConfiguration)] = []
            for (i, configuration) in context.queueConfigurations.enumerated() where i < kicks.count {
                if let configuration { rings.append((i, configuration)) }
            }
            let frontEnd = self.frontEnd
            do {
                try startRings(rings, features: context.features, frontEnd: frontEnd,
                               bases: rings.map { $0.configuration.format == .packed ? 0x8000 : 0 }, restoring: false)
            } catch {
                fail("starting: \(error)")
            }
        }
    }

    /// Sends the features, the in-flight region (when tracked: a new one at a fresh start, the
    /// kept one when `restoring`), every ring's set-up, watches the call fds, then enables the
    /// rings with the seed-002 barrier. Caller holds `control`.
    private func startRings(_ rings: [(index: Int, configuration: VirtqueueConfiguration)], features: VirtioFeatures,
                            frontEnd: VhostUserFrontEnd, bases: [UInt32], restoring: Bool) throws(VhostUserError) {
        try frontEnd.setFeatures(features.rawValue)
        if inflightTracking, frontEnd.negotiation?.protocolFeatures.contains(.inflightSharedMemory) ?? false {
            var share = restoring ? state.withLock { $0.inflight } : nil
            if share == nil {
                let (description, fd) = try frontEnd.getInflightFD(queueCount: UInt16(kicks.count), queueSize: queueMaxSizes.first ?? 256)
                let made = VhostUserInflightShare(description: description, fd: fd)
                state.withLock { $0.inflight = made }
                share = made
            }
            if let share { try frontEnd.setInflightFD(share.description, fd: share.fd) }
        } else {
            state.withLock { $0.inflight = nil }
        }
        for (n, ring) in rings.enumerated() { try setUpRing(ring.index, ring.configuration, base: bases[n], frontEnd: frontEnd) }
        // The back end may signal a call fd as soon as it has it (qemu-storage-daemon does):
        // nothing is used yet, so drop those before watching.
        let host = state.withLock { $0.host }
        for ring in rings { calls[ring.index].testAndClear() }
        let handlers = rings.map { ring in
            loop.addHandler(notifier: calls[ring.index]) { host?.usedBuffers(queue: ring.index) }
        }
        let old = state.withLock { s in
            defer { s.rings = rings; s.callHandlers = handlers }
            return s.callHandlers
        }
        old.forEach { $0.remove() }
        if frontEnd.negotiation?.protocolFeaturesSupported ?? false {
            let acknowledged = ringEnableBarrier
            for ring in rings { try frontEnd.setVringEnable(ring.index, true, barrier: acknowledged) }
        } else if ringEnableBarrier {
            // No protocol features: a ring runs once its kick fd arrives, and nothing was
            // acknowledged. One round trip: the back end has handled the whole set-up when
            // DRIVER_OK completes.
            _ = try frontEnd.getFeatures()
        }
        // A kick the guest sent while the rings were being set up (or while the back end was
        // away) is still counted in its eventfd, which the back end now reads.
    }

    private func setUpRing(_ i: Int, _ c: VirtqueueConfiguration, base: UInt32, frontEnd: VhostUserFrontEnd) throws(VhostUserError) {
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
        try frontEnd.setVringBase(i, base: base)
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
        control.withLock { _ in
            let (rings, handlers, broken, frontEnd, negotiation) = state.withLock { s in
                defer { s.rings = []; s.callHandlers = []; s.host = nil; s.memory = nil; s.inflight = nil }
                return (s.rings, s.callHandlers, s.broken, s.frontEnd, s.negotiation)
            }
            handlers.forEach { $0.remove() }
            if broken != nil {
                if reconnector != nil { _ = reconnectHoldingControl(restoreRings: false) }
                return
            }
            do {
                for ring in rings {
                    if negotiation.protocolFeaturesSupported { try frontEnd.setVringEnable(ring.index, false) }
                    _ = try frontEnd.getVringBase(ring.index)
                }
                if negotiation.protocolFeatures.contains(.config), configSize > 0 {
                    let config = try frontEnd.getConfig(offset: 0, size: configSize)
                    state.withLock { $0.config = config }
                }
            } catch {
                fail("stopping: \(error)")
            }
        }
    }

    /// Marks the device broken and, if a driver runs it, asks for a reset.
    private func fail(_ reason: String) {
        let (host, connection) = state.withLock { s -> ((any VirtioDeviceHost)?, VhostUserConnection) in
            if s.broken == nil { s.broken = reason }
            s.callHandlers.forEach { $0.remove() }
            s.callHandlers = []
            s.hangupWatch?.remove()
            s.hangupWatch = nil
            return (s.host, s.frontEnd.connection)
        }
        connection.markBroken(.broken(reason))
        host?.needsReset(because: reason)
    }

    // MARK: Reconnect

    /// The socket of `connection` hung up.
    private func lost(_ connection: VhostUserConnection) {
        guard state.withLock({ $0.frontEnd.connection === connection }) else { return }
        connection.markBroken(.disconnected)
        guard reconnector != nil else { return fail("the vhost-user back end disconnected") }
        state.withLock { s in
            s.hangupWatch?.remove()
            s.hangupWatch = nil
            s.callHandlers.forEach { $0.remove() }
            s.callHandlers = []
        }
        // Off the loop thread: reconnecting waits for the back end to come back.
        detachThread(name: "vhost-reconnect") { [self] in
            control.withLock { _ in
                if let why = reconnectHoldingControl(restoreRings: true) {
                    fail(why)
                }
            }
        }
    }

    /// Connects again, negotiates, sends the memory table, and with `restoreRings` restores the
    /// running rings. Returns why it failed, or `nil` (the device works again). Caller holds
    /// `control`.
    private func reconnectHoldingControl(restoreRings: Bool) -> String? {
        guard let reconnector else { return brokenReason }
        // Connect and negotiate, retried as a whole: a daemon that is going down may still
        // accept a connection and then drop it mid-negotiation.
        var attached: (VhostUserConnection, VhostUserFrontEnd, VhostUserFrontEnd.Negotiation, [UInt8])?
        var lastError = "no attempt"
        for attempt in 0..<reconnector.attempts {
            if attempt > 0 { sleepThread(reconnector.delay) }
            let connection: VhostUserConnection
            do { connection = try reconnector.connect() } catch { lastError = "\(error)"; continue }
            let frontEnd = VhostUserFrontEnd(connection: connection)
            do {
                let (negotiation, config) = try Self.attach(frontEnd, regions: regions, queueCount: kicks.count, configSize: configSize)
                guard VirtioFeatures(rawValue: negotiation.backEndFeatures).isSuperset(of: offeredFeatures) else {
                    connection.markBroken(.unsupported("features"))
                    lastError = "the reconnected back end offers fewer features"
                    continue
                }
                attached = (connection, frontEnd, negotiation, config)
                break
            } catch {
                connection.markBroken(.broken("\(error)"))
                lastError = "\(error)"
            }
        }
        guard let (connection, frontEnd, negotiation, config) = attached else { return "reconnecting failed: \(lastError)" }
        do {
            let (rings, features, memory, kept) = state.withLock { s in
                s.frontEnd = frontEnd
                s.negotiation = negotiation
                s.config = config
                return (s.rings, s.features, s.memory, s.inflight)
            }
            if restoreRings, !rings.isEmpty, let memory {
                // With the old back end's in-flight region and a new back end that tracks too,
                // the new one resubmits what the region says was taken and not finished; it
                // resumes the available ring past those itself.
                let resubmits = inflightTracking && kept != nil && negotiation.protocolFeatures.contains(.inflightSharedMemory)
                var bases: [UInt32] = []
                for ring in rings {
                    guard ring.configuration.format == .split else { return "a packed ring cannot be restored" }
                    let avail: UInt16 = try memory.load(at: ring.configuration.driverArea + 2)
                    let used: UInt16 = try memory.load(at: ring.configuration.deviceArea + 2)
                    guard avail == used || resubmits else {
                        return "ring \(ring.index) had \(avail &- used) requests outstanding when the back end went away"
                    }
                    bases.append(UInt32(used))
                }
                try startRings(rings, features: features, frontEnd: frontEnd, bases: bases, restoring: true)
            } else {
                state.withLock { $0.rings = [] }
            }
        } catch {
            connection.markBroken(.broken("\(error)"))
            return "reconnecting: \(error)"
        }
        state.withLock { $0.broken = nil }
        watchHangup(of: connection)
        reconnects.add(1, ordering: .releasing)
        return nil
    }
}
