import CEmuSystem
import EmuCore
import EmuVirtio
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A small vhost-user back end: serves one front end on a ``VhostUserSocket`` with a
/// ``VhostUserBackEndHandler``, for tests and for hosting Swift device models in another process.
///
/// Like real back ends it has two planes on two threads: the **control plane** (an ``IOThread``
/// reading the socket in order) and the **data plane** (another ``IOThread`` watching the kick
/// fds and running the handler). As the specification says, with protocol features negotiated a
/// ring starts disabled; a kick on a disabled ring is consumed and **its requests are not
/// processed** (counted in ``droppedKicks``), which is what a front end that lets the guest run
/// before SET_VRING_ENABLE is handled makes visible (seed 002).
///
/// Offered protocol features: `MQ`, `REPLY_ACK` (unless `replyAck: false`), `CONFIG`,
/// `CONFIGURE_MEM_SLOTS` (8 slots), `INFLIGHT_SHMFD` (unless `inflight: false`); with
/// `protocolFeatures: false`, none (no bit 30). Split rings resume at the SET_VRING_BASE index;
/// packed rings are served fresh only.
///
/// In-flight tracking: GET_INFLIGHT_FD makes a memfd region (``VhostUserInflightRegion``'s
/// layout), SET_INFLIGHT_FD maps the one the front end kept. With a region, each chain taken from
/// a split ring is marked there (with an increasing counter) until its used-ring write is done;
/// when a ring starts, the heads the region still marks are resubmitted in the order they were
/// taken, before new requests, and the ring resumes past them (used index + their count). Every message is
/// checked; a malformed one is refused (with `NEED_REPLY`: a non-zero status) or closes the
/// connection when the stream can no longer be trusted (an unknown code, or a request whose reply
/// carries a value that cannot be given). GET_VRING_BASE waits for the request being handled.
public final class VhostUserBackEnd: Sendable {
    /// Knobs for tests.
    public struct Options: Sendable {
        /// Offer `REPLY_ACK` (otherwise a front end must use another barrier).
        public var replyAck = true
        /// How long the control plane takes to act on SET_VRING_ENABLE: a slow control plane.
        public var enableDelay: Duration = .zero
        /// Offer virtio bit 30 (protocol features); without it rings run once their kick fd
        /// arrives, as with the oldest back ends.
        public var protocolFeatures = true
        /// Offer `INFLIGHT_SHMFD` (in-flight tracking across a restart).
        public var inflight = true
        public init(replyAck: Bool = true, enableDelay: Duration = .zero, protocolFeatures: Bool = true, inflight: Bool = true) {
            self.replyAck = replyAck
            self.enableDelay = enableDelay
            self.protocolFeatures = protocolFeatures
            self.inflight = inflight
        }
    }

    private struct Ring {
        var size: UInt16 = 0
        var address: VhostUserVringAddress?
        var kickFD: Int32 = -1
        var callFD: Int32 = -1
        var enabled = false
        var queue: VirtqueueHandle?
        var kickHandler: FDHandler?
        var base: UInt16 = 0
        var popped: UInt16 = 0
        /// Heads to resubmit from the in-flight region, in the order they were first taken.
        var resubmit: [UInt16] = []
        /// The next in-flight counter.
        var counter: UInt64 = 1
    }

    private struct State {
        var features: UInt64 = 0
        var protocolFeatures: VhostUserProtocolFeatures = []
        var regions: [(descriptor: VhostUserMemoryRegionDescriptor, block: RAMBlock)] = []
        var memory: FlatGuestMemory?
        var rings: [Ring]
        var received: [VhostUserRequest] = []
        var refusals: [String] = []
        var inflight: VhostUserInflightRegion?
    }

    private let socket: VhostUserSocket
    private let handler: any VhostUserBackEndHandler
    private let options: Options
    private let control: IOThread
    private let data: IOThread
    /// The control plane's watch on the socket, removed when the connection ends.
    private let socketWatch = Mutex<FDHandler?>(nil)
    private let state: Mutex<State>
    private let dropped = Atomic<Int>(0)
    private let processed = Atomic<Int>(0)
    private let ended = Atomic<Bool>(false)
    private let crashed = Atomic<Bool>(false)
    private let resubmitted = Atomic<Int>(0)

    /// Starts serving the front end connected on `socket`.
    /// - Throws: ``VhostUserError/system(_:)`` when a thread cannot be started.
    public init(socket: VhostUserSocket, handler: any VhostUserBackEndHandler, options: Options = Options()) throws(VhostUserError) {
        self.socket = socket
        self.handler = handler
        self.options = options
        self.state = Mutex(State(rings: Array(repeating: Ring(), count: handler.queueCount)))
        do {
            control = try IOThread(name: "vhost-be-ctl")
            data = try IOThread(name: "vhost-be-data")
        } catch { throw .system(error) }
        let watch = control.loop.addHandler(fd: socket.fd) { [weak self] _ in self?.serveOne() }
        socketWatch.withLock { $0 = watch }
    }

    /// Closes the connection and stops both threads.
    public func stop() {
        ended.store(true, ordering: .releasing)
        socket.close()
        control.stop()
        data.stop()
        state.withLock { s in
            for i in s.rings.indices { Self.forget(&s.rings[i]) }
        }
    }

    deinit { stop() }

    /// Kicks consumed on a ring that was not (yet) enabled, whose requests were not processed.
    public var droppedKicks: Int { dropped.load(ordering: .acquiring) }
    /// Requests the handler answered.
    public var processedRequests: Int { processed.load(ordering: .acquiring) }
    /// Whether the front end went away (or ``stop()`` ran).
    public var hasEnded: Bool { ended.load(ordering: .acquiring) }
    /// Requests taken again from the in-flight region after a restart.
    public var resubmittedRequests: Int { resubmitted.load(ordering: .acquiring) }

    /// Test-only: behaves as a back-end process that died: the connection closes and the
    /// request being handled (if any) is never pushed, so it stays marked in the in-flight region.
    @_spi(Testing) public func simulateCrash() {
        crashed.store(true, ordering: .releasing)
        end()
        // A dead process reads no more kicks: the kick eventfds are shared with its successor,
        // which must see every one.
        state.withLock { s in
            for i in s.rings.indices {
                s.rings[i].kickHandler?.remove()
                s.rings[i].kickHandler = nil
            }
        }
    }

    /// The requests received so far, in order.
    public var receivedRequests: [VhostUserRequest] { state.withLock { $0.received } }

    /// Why requests were refused (answered with a non-zero status, or the connection closed
    /// because no answer could be given), oldest first: the request and the error's text.
    public var refusals: [String] { state.withLock { $0.refusals } }

    private var offeredProtocolFeatures: VhostUserProtocolFeatures {
        var offered: VhostUserProtocolFeatures = [.multiQueue, .config, .configureMemSlots]
        if options.replyAck { offered.insert(.replyAck) }
        if options.inflight { offered.insert(.inflightSharedMemory) }
        return offered
    }

    // MARK: Control plane

    private func serveOne() {
        guard !hasEnded else { return }
        let message: VhostUserMessage, fds: [Int32]
        do { (message, fds) = try socket.receive(timeout: .seconds(5)) } catch {
            return end()
        }
        var owned = fds
        defer { owned.forEach { _ = close($0) } }
        guard let request = message.knownRequest else { return end() }
        state.withLock { $0.received.append(request) }
        let result: Result<[UInt8]?, VhostUserError>
        var replyFDs: [Int32] = []  // not owned: the fds of regions this back end keeps
        do throws(VhostUserError) { result = .success(try handle(request, message.payload, fds: &owned, replyFDs: &replyFDs)) } catch {
            result = .failure(error)
            state.withLock { $0.refusals.append("\(request): \(error)") }
        }
        do {
            switch result {
            case .success(let reply?):
                try socket.send(VhostUserMessage(rawRequest: message.request, flags: [.version1, .reply], payload: reply),
                                descriptors: replyFDs)
            case .success(nil), .failure:
                if message.flags.contains(.needReply) && !request.hasReply {
                    let status: UInt64 = if case .failure = result { 1 } else { 0 }
                    try socket.send(VhostUserMessage(rawRequest: message.request, flags: [.version1, .reply],
                                                     payload: VhostUserU64.encode(status)))
                } else if case .failure = result, request.hasReply {
                    end()  // a request that must be answered and cannot be: the stream is lost
                }
            }
        } catch { end() }
    }

    /// The connection is over: shut the socket and stop watching it (a shut socket stays
    /// readable and would wake the control plane forever). The threads keep running until
    /// ``stop()``, the one place that stops and joins them.
    private func end() {
        ended.store(true, ordering: .releasing)
        socket.close()
        socketWatch.withLock { $0 }?.remove()
    }

    /// Takes the first fd of `fds` (the caller closes the rest).
    private static func takeFD(_ fds: inout [Int32]) throws(VhostUserError) -> Int32 {
        guard !fds.isEmpty else { throw .malformedPayload("a file descriptor was expected") }
        return fds.removeFirst()
    }

    private func ringIndex(_ raw: UInt32) throws(VhostUserError) -> Int {
        guard raw < UInt32(handler.queueCount) else { throw .malformedPayload("ring \(raw) of \(handler.queueCount)") }
        return Int(raw)
    }

    private func handle(_ request: VhostUserRequest, _ payload: [UInt8], fds: inout [Int32],
                        replyFDs: inout [Int32]) throws(VhostUserError) -> [UInt8]? {
        switch request {
        case .getFeatures:
            return VhostUserU64.encode(handler.features.rawValue | (options.protocolFeatures ? VhostUserProtocolFeatures.virtioBit : 0))
        case .setFeatures:
            let f = try VhostUserU64.decode(payload)
            state.withLock { $0.features = f }
            return nil
        case .getProtocolFeatures:
            return VhostUserU64.encode(offeredProtocolFeatures.rawValue)
        case .setProtocolFeatures:
            let f = VhostUserProtocolFeatures(rawValue: try VhostUserU64.decode(payload))
            guard offeredProtocolFeatures.isSuperset(of: f) else { throw .unsupported("protocol features \(f)") }
            state.withLock { $0.protocolFeatures = f }
            return nil
        case .setOwner, .resetOwner:
            return nil
        case .getQueueNum:
            return VhostUserU64.encode(UInt64(handler.queueCount))
        case .setMemTable:
            return try setMemTable(VhostUserMemoryTable(decoding: payload), fds: &fds)
        case .getMaxMemSlots:
            return VhostUserU64.encode(UInt64(Self.memorySlots))
        case .addMemReg:
            let region = try VhostUserSingleRegion.decode(payload)
            guard fds.count == 1 else { throw .unexpectedDescriptors(fds.count) }
            let current = state.withLock { $0.regions }
            guard current.count < Self.memorySlots else { throw .unsupported("all \(Self.memorySlots) memory slots in use") }
            return try setMemTable(VhostUserMemoryTable(regions: current.map(\.descriptor) + [region]), fds: &fds,
                                   keeping: current.map(\.block))
        case .remMemReg:
            let region = try VhostUserSingleRegion.decode(payload)
            let current = state.withLock { $0.regions }
            guard let at = current.firstIndex(where: { $0.descriptor.guestAddress == region.guestAddress &&
                $0.descriptor.size == region.size && $0.descriptor.userAddress == region.userAddress })
            else { throw .malformedPayload("no region at 0x\(String(region.guestAddress, radix: 16)) to remove") }
            var kept = current
            kept.remove(at: at)
            var none: [Int32] = []
            return try setMemTable(VhostUserMemoryTable(regions: kept.map(\.descriptor)), fds: &none, keeping: kept.map(\.block))
        case .setVringNum:
            let s = try VhostUserVringState(decoding: payload)
            let i = try ringIndex(s.index)
            guard s.number > 0, s.number <= UInt32(VirtqueueConfiguration.maximumSize) else { throw .malformedPayload("ring size \(s.number)") }
            state.withLock { $0.rings[i].size = UInt16(s.number) }
            return nil
        case .setVringBase:
            let s = try VhostUserVringState(decoding: payload)
            let i = try ringIndex(s.index)
            let packed = state.withLock { VirtioFeatures(rawValue: $0.features).contains(.ringPacked) }
            guard s.number <= UInt32(UInt16.max), !packed || s.number == 0x8000 else {
                throw .unsupported("resuming ring \(s.index) at \(s.number)")
            }
            state.withLock { $0.rings[i].base = UInt16(s.number) }
            return nil
        case .setVringAddr:
            let a = try VhostUserVringAddress(decoding: payload)
            let i = try ringIndex(a.index)
            state.withLock { $0.rings[i].address = a }
            return nil
        case .setVringKick, .setVringCall, .setVringErr:
            let word = try VhostUserVringFileWord(rawValue: VhostUserU64.decode(payload))
            let i = try ringIndex(UInt32(word.index))
            let fd = word.noDescriptor ? -1 : try Self.takeFD(&fds)
            if request == .setVringErr { if fd >= 0 { close(fd) }; return nil }
            if request == .setVringCall {
                state.withLock { s in
                    if s.rings[i].callFD >= 0 { close(s.rings[i].callFD) }
                    s.rings[i].callFD = fd
                }
                return nil
            }
            try startRing(i, kickFD: fd)
            return nil
        case .setVringEnable:
            let s = try VhostUserVringState(decoding: payload)
            let i = try ringIndex(s.index)
            if options.enableDelay > .zero { sleepThread(options.enableDelay) }
            state.withLock { $0.rings[i].enabled = s.number != 0 }
            if s.number != 0 { triggerResubmission(i) }
            return nil
        case .getVringBase:
            let s = try VhostUserVringState(decoding: payload)
            let i = try ringIndex(s.index)
            // Stop taking requests, wait for the one being handled (the data plane handles it
            // holding the queue's lock), and only then report the base and close the fds.
            let handle = state.withLock { st -> VirtqueueHandle? in
                defer { st.rings[i].queue = nil }
                st.rings[i].kickHandler?.remove()
                st.rings[i].kickHandler = nil
                return st.rings[i].queue
            }
            handle?.withQueue { _ in }
            let base = state.withLock { st -> UInt16 in
                let popped = st.rings[i].popped
                Self.forget(&st.rings[i])
                return popped
            }
            return VhostUserVringState(index: s.index, number: UInt32(base)).encoded()
        case .getConfig:
            let c = try VhostUserConfigPayload(decoding: payload)
            let config = handler.config
            guard UInt64(c.offset) + UInt64(c.bytes.count) <= UInt64(config.count) else {
                throw .malformedPayload("config range \(c.offset)+\(c.bytes.count) of \(config.count)")
            }
            return VhostUserConfigPayload(offset: c.offset, bytes: Array(config[Int(c.offset)..<Int(c.offset) + c.bytes.count])).encoded()
        case .setConfig:
            _ = try VhostUserConfigPayload(decoding: payload)
            return nil
        case .getInflightFD:
            guard state.withLock({ $0.protocolFeatures.contains(.inflightSharedMemory) }) else {
                throw .unsupported("INFLIGHT_SHMFD not negotiated")
            }
            let asked = try VhostUserInflightDescription(decoding: payload)
            let region = try VhostUserInflightRegion(creatingFor: Int(asked.queueCount), queueSize: Int(asked.queueSize),
                                                     limit: handler.queueCount)
            try installInflight(region)
            replyFDs = [region.block.fd]
            return VhostUserInflightDescription(mmapSize: region.block.size, mmapOffset: 0,
                                                queueCount: asked.queueCount, queueSize: asked.queueSize).encoded()
        case .setInflightFD:
            guard state.withLock({ $0.protocolFeatures.contains(.inflightSharedMemory) }) else {
                throw .unsupported("INFLIGHT_SHMFD not negotiated")
            }
            let description = try VhostUserInflightDescription(decoding: payload)
            guard fds.count == 1 else { throw .unexpectedDescriptors(fds.count) }
            let fd = try Self.takeFD(&fds)
            try installInflight(try VhostUserInflightRegion(mapping: fd, description, limit: handler.queueCount))
            return nil
        default:
            throw .unsupported("\(request)")
        }
    }

    /// Makes `region` the in-flight region; refused while a ring runs (it would lose track).
    private func installInflight(_ region: VhostUserInflightRegion) throws(VhostUserError) {
        try state.withLock { s throws(VhostUserError) in
            guard s.rings.allSatisfy({ $0.queue == nil }) else { throw .unsupported("inflight region changed while a ring runs") }
            s.inflight = region
        }
    }

    /// The memory slots offered with `CONFIGURE_MEM_SLOTS`.
    static let memorySlots = 8

    /// Installs a memory table: the first `keeping.count` regions reuse those mapped blocks, the
    /// rest map one received fd each.
    private func setMemTable(_ table: VhostUserMemoryTable, fds: inout [Int32],
                             keeping: [RAMBlock] = []) throws(VhostUserError) -> [UInt8]? {
        guard fds.count == table.regions.count - keeping.count else { throw .unexpectedDescriptors(fds.count) }
        var mapped: [(descriptor: VhostUserMemoryRegionDescriptor, block: RAMBlock)] = []
        var slots: [FlatGuestMemory.Slot] = []
        for (n, region) in table.regions.enumerated() {
            if n < keeping.count {
                mapped.append((region, keeping[n]))
                slots.append(FlatGuestMemory.Slot(address: region.guestAddress, block: keeping[n]))
                continue
            }
            let fd = fds.removeFirst()
            let block: RAMBlock
            do { block = try RAMBlock(name: "vhost-region", mapping: fd, offset: region.mmapOffset, size: region.size) } catch {
                throw .malformedPayload("region at 0x\(String(region.guestAddress, radix: 16)): \(error)")
            }
            mapped.append((region, block))
            slots.append(FlatGuestMemory.Slot(address: region.guestAddress, block: block))
        }
        let memory: FlatGuestMemory
        do { memory = try FlatGuestMemory(slots) } catch { throw .malformedPayload("memory table: \(error)") }
        state.withLock { s in
            s.regions = mapped
            s.memory = memory
        }
        return nil
    }

    /// The guest address of front-end virtual address `user`.
    private static func guestAddress(_ user: UInt64, in regions: [(descriptor: VhostUserMemoryRegionDescriptor, block: RAMBlock)]) throws(VhostUserError) -> UInt64 {
        for (d, _) in regions where user >= d.userAddress && user - d.userAddress < d.size {
            return d.guestAddress + (user - d.userAddress)
        }
        throw .malformedPayload("ring address 0x\(String(user, radix: 16)) is in no region")
    }

    private func startRing(_ i: Int, kickFD: Int32) throws(VhostUserError) {
        let (memory, configuration): (FlatGuestMemory, VirtqueueConfiguration) = try state.withLock { s throws(VhostUserError) in
            guard let memory = s.memory, let a = s.rings[i].address, s.rings[i].size > 0 else {
                if kickFD >= 0 { close(kickFD) }
                throw .malformedPayload("ring \(i) kicked before its memory, size and address")
            }
            let packed = VirtioFeatures(rawValue: s.features).contains(.ringPacked)
            let f = VirtioFeatures(rawValue: s.features)
            let c: VirtqueueConfiguration
            do throws(VhostUserError) {
                c = VirtqueueConfiguration(format: packed ? .packed : .split, size: s.rings[i].size,
                                           descriptorArea: try Self.guestAddress(a.descriptor, in: s.regions),
                                           driverArea: try Self.guestAddress(a.available, in: s.regions),
                                           deviceArea: try Self.guestAddress(a.used, in: s.regions),
                                           eventIndex: f.contains(.eventIndex), indirectDescriptors: f.contains(.indirectDescriptors))
            } catch {
                if kickFD >= 0 { close(kickFD) }
                throw error
            }
            return (memory, c)
        }
        var base = state.withLock { $0.rings[i].base }
        let inflight = state.withLock { $0.inflight }
        var resubmit: [UInt16] = [], counter: UInt64 = 1
        let queue: any Virtqueue
        do {
            if configuration.format == .split {
                // Resume where the front end says; the used index is the ring's own.
                let used: UInt16 = try memory.load(at: configuration.deviceArea + 2)
                if let inflight, inflight.covers(queue: i, ringSize: Int(configuration.size)) {
                    // What the region marks was taken by an earlier back end: resubmit it, and
                    // take new requests from past it (requests are taken in ring order).
                    // A refusal is closed below, once: closing `kickFD` here too closed whatever
                    // had reused its number in between (another ring's kick fd, a loop's wake-up).
                    (resubmit, counter) = try inflight.recover(queue: i, ringSize: Int(configuration.size), ringUsedIndex: used)
                    base = used &+ UInt16(resubmit.count)
                }
                queue = try SplitVirtqueue(configuration, memory: memory, resumingAt: base, usedIndex: used)
            } else {
                queue = try makeVirtqueue(configuration, memory: memory)
            }
        } catch {
            if kickFD >= 0 { close(kickFD) }
            throw .malformedPayload("ring \(i): \(error)")
        }
        let handle = VirtqueueHandle(index: i, queue)
        let protocolNegotiated = state.withLock { $0.features & VhostUserProtocolFeatures.virtioBit != 0 }
        state.withLock { s in
            s.rings[i].kickHandler?.remove()
            if s.rings[i].kickFD >= 0 { close(s.rings[i].kickFD) }
            s.rings[i].kickFD = kickFD
            s.rings[i].queue = handle
            s.rings[i].popped = base
            s.rings[i].resubmit = resubmit
            s.rings[i].counter = counter
            if !protocolNegotiated { s.rings[i].enabled = true }  // without bit 30 a ring runs once started
            if kickFD >= 0 {
                s.rings[i].kickHandler = data.loop.addHandler(fd: kickFD) { [weak self] _ in self?.kicked(i, fd: kickFD) }
            }
        }
        triggerResubmission(i)
    }

    /// Wakes the data plane for a running, enabled ring with requests to resubmit (the guest
    /// will not kick for requests it already made available).
    private func triggerResubmission(_ i: Int) {
        state.withLock { s in
            let r = s.rings[i]
            if !r.resubmit.isEmpty, r.enabled, r.queue != nil, r.kickFD >= 0 { _ = emu_eventfd_write(r.kickFD, 1) }
        }
    }

    private static func forget(_ ring: inout Ring) {
        ring.kickHandler?.remove()
        ring.kickHandler = nil
        if ring.kickFD >= 0 { close(ring.kickFD) }
        if ring.callFD >= 0 { close(ring.callFD) }
        ring = Ring(size: ring.size, address: ring.address, base: ring.popped)
    }

    // MARK: Data plane

    private func kicked(_ i: Int, fd: Int32) {
        guard !crashed.load(ordering: .acquiring) else { return }
        // Read the kick only while `fd` is still this ring's: the control plane closes a ring's
        // fds under the same lock (GET_VRING_BASE, a new SET_VRING_KICK) and may do so while this
        // dispatch is starting. Reading a closed fd's number would consume whatever now has it,
        // e.g. an event loop's wake-up eventfd (a stop lost) or another ring's kick (a request lost).
        let (queue, enabled, memory) = state.withLock { s -> (VirtqueueHandle?, Bool, FlatGuestMemory?) in
            guard s.rings[i].kickFD == fd else { return (nil, false, nil) }
            var value: UInt64 = 0
            guard emu_eventfd_read(fd, &value) == 0, value > 0 else { return (nil, false, nil) }
            return (s.rings[i].queue, s.rings[i].enabled, s.memory)
        }
        guard let queue, let memory, !crashed.load(ordering: .acquiring) else { return }
        guard enabled else {
            dropped.add(1, ordering: .releasing)  // the request stays unprocessed until another kick
            return
        }
        // Only split rings are tracked (the region's layout is the split one).
        let (ringSize, split) = queue.withQueue { ($0.configuration.size, $0.configuration.format == .split) }
        let tracked = split ? state.withLock { s in s.inflight.flatMap { $0.covers(queue: i, ringSize: Int(ringSize)) ? $0 : nil } } : nil
        queue.withQueue { q in
            var count = 0
            // Re-checked before every request: GET_VRING_BASE or a disable stops the ring between two.
            while isServing(i, queue) {
                // Requests an earlier back end took come first, in the order it took them.
                let element: VirtqueueElement, isNew: Bool
                if let head = state.withLock({ $0.rings[i].resubmit.isEmpty ? nil : $0.rings[i].resubmit.removeFirst() }) {
                    guard let split = q as? SplitVirtqueue, let e = try? split.resubmit(head: head) else { break }
                    element = e
                    isNew = false
                    resubmitted.add(1, ordering: .releasing)
                } else {
                    guard let e = try? q.pop() else { break }
                    element = e
                    isNew = true
                    if let tracked {
                        let counter = state.withLock { s in defer { s.rings[i].counter &+= 1 }; return s.rings[i].counter }
                        tracked.begin(queue: i, head: e.id, counter: counter)
                    }
                }
                let written = handler.handle(element, queue: i, memory: memory)
                if crashed.load(ordering: .acquiring) { return }  // a dead back end pushes nothing
                tracked?.pushing(queue: i, head: element.id)
                do { try q.push(element, writtenLength: min(written, UInt32(clamping: element.writableLength))) } catch { break }
                if let tracked, let used: UInt16 = try? memory.load(at: q.configuration.deviceArea + 2) {
                    tracked.finished(queue: i, head: element.id, usedIndex: used)
                }
                count += 1
                if isNew { state.withLock { $0.rings[i].popped &+= 1 } }
            }
            processed.add(count, ordering: .releasing)
            if count > 0, q.shouldInterrupt() {
                state.withLock { s in
                    if s.rings[i].queue === queue, s.rings[i].callFD >= 0 { _ = emu_eventfd_write(s.rings[i].callFD, 1) }
                }
            }
        }
    }

    private func isServing(_ i: Int, _ queue: VirtqueueHandle) -> Bool {
        state.withLock { $0.rings[i].queue === queue && $0.rings[i].enabled }
    }
}
