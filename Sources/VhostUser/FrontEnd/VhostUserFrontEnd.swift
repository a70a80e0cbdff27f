import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The front end's side of the vhost-user control protocol over one ``VhostUserConnection``:
/// negotiation, the memory table, ring set-up, start and stop, and configuration space.
///
/// "Set" requests ask for an acknowledgement (`NEED_REPLY`) once `REPLY_ACK` is negotiated, so a
/// back end's failure surfaces at the request that caused it. Thread-safe.
public final class VhostUserFrontEnd: Sendable {
    /// The connection requests go over.
    public let connection: VhostUserConnection
    private let agreed = Mutex<Negotiation?>(nil)

    /// The protocol features this front end can use.
    public static let supportedProtocolFeatures: VhostUserProtocolFeatures = [.multiQueue, .replyAck, .config, .configureMemSlots,
                                                                              .inflightSharedMemory]

    /// What negotiation established.
    public struct Negotiation: Sendable, Hashable {
        /// The virtio features the back end offers (GET_FEATURES), including bit 30.
        public var backEndFeatures: UInt64
        /// Whether the back end speaks protocol features (bit 30 offered).
        public var protocolFeaturesSupported: Bool
        /// The protocol features the back end offers.
        public var offeredProtocolFeatures: VhostUserProtocolFeatures
        /// The protocol features both sides use (SET_PROTOCOL_FEATURES).
        public var protocolFeatures: VhostUserProtocolFeatures
        /// GET_QUEUE_NUM's answer (1 without `MQ`).
        public var queueCount: UInt64
        /// GET_MAX_MEM_SLOTS's answer (`nil` without `CONFIGURE_MEM_SLOTS`).
        public var maxMemSlots: UInt64?
    }

    /// A front end on `connection`.
    public init(connection: VhostUserConnection) { self.connection = connection }

    /// What ``negotiate(protocolFeatures:)`` established, if it ran.
    public var negotiation: Negotiation? { agreed.withLock { $0 } }

    private var acknowledges: Bool { agreed.withLock { $0?.protocolFeatures.contains(.replyAck) ?? false } }

    /// SET_OWNER, GET_FEATURES, then (when bit 30 is offered) GET/SET_PROTOCOL_FEATURES with the
    /// intersection of `wanted` and the offer, GET_QUEUE_NUM (with `MQ`) and GET_MAX_MEM_SLOTS
    /// (with `CONFIGURE_MEM_SLOTS`).
    /// - Throws: ``VhostUserError``.
    @discardableResult
    public func negotiate(protocolFeatures wanted: VhostUserProtocolFeatures = supportedProtocolFeatures) throws(VhostUserError) -> Negotiation {
        try connection.send(.setOwner, needReply: false)
        let features = try getFeatures()
        var result = Negotiation(backEndFeatures: features, protocolFeaturesSupported: features & VhostUserProtocolFeatures.virtioBit != 0,
                                 offeredProtocolFeatures: [], protocolFeatures: [], queueCount: 1, maxMemSlots: nil)
        if result.protocolFeaturesSupported {
            let offered = VhostUserProtocolFeatures(rawValue: try VhostUserU64.decode(
                connection.call(.getProtocolFeatures, reply: .exactly(8))))
            result.offeredProtocolFeatures = offered
            result.protocolFeatures = offered.intersection(wanted)
            try connection.send(.setProtocolFeatures, payload: VhostUserU64.encode(result.protocolFeatures.rawValue), needReply: false)
            if result.protocolFeatures.contains(.multiQueue) {
                result.queueCount = try VhostUserU64.decode(connection.call(.getQueueNum, reply: .exactly(8)))
            }
            if result.protocolFeatures.contains(.configureMemSlots) {
                result.maxMemSlots = try VhostUserU64.decode(connection.call(.getMaxMemSlots, reply: .exactly(8)))
            }
        }
        let final = result
        agreed.withLock { $0 = final }
        return final
    }

    /// GET_FEATURES: the back end's virtio features.
    /// - Throws: ``VhostUserError``.
    public func getFeatures() throws(VhostUserError) -> UInt64 {
        try VhostUserU64.decode(connection.call(.getFeatures, reply: .exactly(8)))
    }

    /// SET_FEATURES. Bit 30 is added when protocol features were negotiated (the back end then
    /// keeps rings disabled until SET_VRING_ENABLE).
    /// - Throws: ``VhostUserError``.
    public func setFeatures(_ features: UInt64) throws(VhostUserError) {
        let protocolBit = agreed.withLock { $0?.protocolFeaturesSupported ?? false } ? VhostUserProtocolFeatures.virtioBit : 0
        try connection.send(.setFeatures, payload: VhostUserU64.encode(features | protocolBit), needReply: acknowledges)
    }

    /// SET_MEM_TABLE with one fd per region.
    /// - Throws: ``VhostUserError/unsupported(_:)`` for more than 8 regions (or more than the
    ///   back end's slots), or what the exchange throws.
    public func setMemTable(_ regions: [VhostUserGuestRegion]) throws(VhostUserError) {
        guard regions.count <= VhostUserMemoryTable.maximumRegions else {
            throw .unsupported("\(regions.count) memory regions; SET_MEM_TABLE carries at most 8")
        }
        if let slots = negotiation?.maxMemSlots, UInt64(regions.count) > slots {
            throw .unsupported("\(regions.count) memory regions; the back end has \(slots) slots")
        }
        let table = VhostUserMemoryTable(regions: regions.map(\.descriptor))
        try connection.send(.setMemTable, payload: table.encoded(), descriptors: regions.map(\.block.fd), needReply: acknowledges)
    }

    /// ADD_MEM_REG: shares one more region (its fd travels with the message), for memory hot-plug.
    /// - Throws: ``VhostUserError/unsupported(_:)`` without `CONFIGURE_MEM_SLOTS`, or what the
    ///   exchange throws.
    public func addMemoryRegion(_ region: VhostUserGuestRegion) throws(VhostUserError) {
        guard negotiation?.protocolFeatures.contains(.configureMemSlots) ?? false else {
            throw .unsupported("no CONFIGURE_MEM_SLOTS protocol feature")
        }
        try connection.send(.addMemReg, payload: VhostUserSingleRegion.encode(region.descriptor),
                            descriptors: [region.block.fd], needReply: acknowledges)
    }

    /// REM_MEM_REG: withdraws a region added before (identified by guest address, size and user
    /// address; no fd is sent).
    /// - Throws: as ``addMemoryRegion(_:)``.
    public func removeMemoryRegion(_ region: VhostUserGuestRegion) throws(VhostUserError) {
        guard negotiation?.protocolFeatures.contains(.configureMemSlots) ?? false else {
            throw .unsupported("no CONFIGURE_MEM_SLOTS protocol feature")
        }
        try connection.send(.remMemReg, payload: VhostUserSingleRegion.encode(region.descriptor), needReply: acknowledges)
    }

    /// SET_VRING_NUM: the ring's size.
    /// - Throws: ``VhostUserError``.
    public func setVringNum(_ index: Int, size: UInt16) throws(VhostUserError) {
        try connection.send(.setVringNum, payload: VhostUserVringState(index: UInt32(index), number: UInt32(size)).encoded(),
                            needReply: acknowledges)
    }

    /// SET_VRING_BASE: where the back end resumes in the available ring (packed: bit 15 is the
    /// wrap counter).
    /// - Throws: ``VhostUserError``.
    public func setVringBase(_ index: Int, base: UInt32) throws(VhostUserError) {
        try connection.send(.setVringBase, payload: VhostUserVringState(index: UInt32(index), number: base).encoded(),
                            needReply: acknowledges)
    }

    /// SET_VRING_ADDR: the ring's areas as front-end virtual addresses.
    /// - Throws: ``VhostUserError``.
    public func setVringAddress(_ address: VhostUserVringAddress) throws(VhostUserError) {
        try connection.send(.setVringAddr, payload: address.encoded(), needReply: acknowledges)
    }

    /// SET_VRING_KICK, SET_VRING_CALL or SET_VRING_ERR with `fd` (`nil`: no fd, polling mode).
    /// - Throws: ``VhostUserError``.
    public func setVringFile(_ request: VhostUserRequest, _ index: Int, fd: Int32?) throws(VhostUserError) {
        precondition([.setVringKick, .setVringCall, .setVringErr].contains(request), "not a vring fd request")
        guard index >= 0, index <= 0xFF else { throw .unsupported("ring index \(index)") }
        let word = VhostUserVringFileWord(index: UInt8(index), noDescriptor: fd == nil)
        try connection.send(request, payload: VhostUserU64.encode(word.rawValue), descriptors: fd.map { [$0] } ?? [],
                            needReply: acknowledges)
    }

    /// GET_VRING_BASE: stops the ring and returns where the back end stopped. The back end may
    /// answer only after its in-flight requests finish; the connection's timeout bounds the wait.
    /// - Throws: ``VhostUserError`` (also when the reply names another ring).
    public func getVringBase(_ index: Int) throws(VhostUserError) -> UInt32 {
        let reply = try VhostUserVringState(decoding: connection.call(
            .getVringBase, payload: VhostUserVringState(index: UInt32(index), number: 0).encoded(), reply: .exactly(8)))
        guard reply.index == UInt32(index) else { throw .malformedPayload("GET_VRING_BASE reply for ring \(reply.index), asked \(index)") }
        return reply.number
    }

    /// SET_VRING_ENABLE, **acknowledged before returning** (seed 002): with `REPLY_ACK` the
    /// message carries `NEED_REPLY` and the back end's status is awaited; without it a
    /// GET_FEATURES round trip follows, which the back end answers only after handling the
    /// enable (it handles its socket in order). So when this returns, the back end's control
    /// plane has taken the ring's new state, and a kick sent afterwards cannot find it disabled.
    ///
    /// `barrier: false` sends the message and returns at once; only tests showing the race use it.
    /// - Throws: ``VhostUserError``.
    public func setVringEnable(_ index: Int, _ enabled: Bool, barrier: Bool = true) throws(VhostUserError) {
        let payload = VhostUserVringState(index: UInt32(index), number: enabled ? 1 : 0).encoded()
        guard barrier else { return try connection.send(.setVringEnable, payload: payload, needReply: false) }
        if acknowledges {
            try connection.send(.setVringEnable, payload: payload, needReply: true)
        } else {
            try connection.send(.setVringEnable, payload: payload, needReply: false)
            _ = try getFeatures()
        }
    }

    /// GET_INFLIGHT_FD: asks the back end for a region to track in-flight requests of
    /// `queueCount` rings of up to `queueSize` descriptors. Returns the back end's description
    /// (its size and offset) and the region's fd, which the caller owns.
    /// - Throws: ``VhostUserError/unsupported(_:)`` without `INFLIGHT_SHMFD`;
    ///   ``VhostUserError/malformedPayload(_:)`` when the reply describes an empty region or a
    ///   range that overflows; what the exchange throws.
    public func getInflightFD(queueCount: UInt16, queueSize: UInt16) throws(VhostUserError) -> (VhostUserInflightDescription, Int32) {
        guard negotiation?.protocolFeatures.contains(.inflightSharedMemory) ?? false else {
            throw .unsupported("no INFLIGHT_SHMFD protocol feature")
        }
        let asked = VhostUserInflightDescription(queueCount: queueCount, queueSize: queueSize)
        let (payload, fd) = try connection.callReceivingDescriptor(.getInflightFD, payload: asked.encoded(),
                                                                   reply: .exactly(VhostUserInflightDescription.size))
        let reply: VhostUserInflightDescription
        do { reply = try VhostUserInflightDescription(decoding: payload) } catch { close(fd); throw error }
        guard reply.mmapSize > 0, reply.mmapOffset <= UInt64(Int64.max) - reply.mmapSize else {
            close(fd)
            throw .malformedPayload("GET_INFLIGHT_FD reply of \(reply.mmapSize) bytes at \(reply.mmapOffset)")
        }
        // Only the size and offset are the back end's answer; the counts stay the ones asked
        // (back ends echo them, but the specification does not promise it).
        return (VhostUserInflightDescription(mmapSize: reply.mmapSize, mmapOffset: reply.mmapOffset,
                                             queueCount: queueCount, queueSize: queueSize), fd)
    }

    /// SET_INFLIGHT_FD: gives the back end the region it described (with its fd) before the
    /// rings start, so it can record requests there, or resubmit those it finds in flight.
    /// - Throws: ``VhostUserError/unsupported(_:)`` without `INFLIGHT_SHMFD`, or what the exchange throws.
    public func setInflightFD(_ description: VhostUserInflightDescription, fd: Int32) throws(VhostUserError) {
        guard negotiation?.protocolFeatures.contains(.inflightSharedMemory) ?? false else {
            throw .unsupported("no INFLIGHT_SHMFD protocol feature")
        }
        try connection.send(.setInflightFD, payload: description.encoded(), descriptors: [fd], needReply: acknowledges)
    }

    /// GET_CONFIG: `size` bytes (at most 256) of the device's configuration space from `offset`.
    /// - Throws: ``VhostUserError/unsupported(_:)`` without the `CONFIG` protocol feature or for a
    ///   size above 256; ``VhostUserError/malformedPayload(_:)`` when the reply describes another
    ///   range; what the exchange throws.
    public func getConfig(offset: UInt32, size: Int) throws(VhostUserError) -> [UInt8] {
        guard negotiation?.protocolFeatures.contains(.config) ?? false else { throw .unsupported("no CONFIG protocol feature") }
        guard size >= 0, size <= VhostUserConfigPayload.maximumSize else { throw .unsupported("config size \(size)") }
        let request = VhostUserConfigPayload(offset: offset, bytes: [UInt8](repeating: 0, count: size))
        let reply = try VhostUserConfigPayload(decoding: connection.call(.getConfig, payload: request.encoded(), reply: .config(size)))
        guard reply.offset == offset, reply.bytes.count == size else {
            throw .malformedPayload("GET_CONFIG reply for \(reply.bytes.count) bytes at \(reply.offset)")
        }
        return reply.bytes
    }

    /// SET_CONFIG: writes `bytes` at `offset` of the configuration space (flags 0: a front-end
    /// write).
    /// - Throws: as ``getConfig(offset:size:)``.
    public func setConfig(offset: UInt32, bytes: [UInt8]) throws(VhostUserError) {
        guard negotiation?.protocolFeatures.contains(.config) ?? false else { throw .unsupported("no CONFIG protocol feature") }
        guard bytes.count <= VhostUserConfigPayload.maximumSize else { throw .unsupported("config size \(bytes.count)") }
        try connection.send(.setConfig, payload: VhostUserConfigPayload(offset: offset, bytes: bytes).encoded(), needReply: acknowledges)
    }
}
