/// GET_INFLIGHT_FD / SET_INFLIGHT_FD payload (`VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD`): the shared
/// region where a back end records the requests it took from the rings and has not finished, so
/// that a restarted back end can resubmit them. The region's fd travels beside the message.
///
/// Layout: mmap size u64, mmap offset u64, queue count u16, queue size u16, then 4 bytes of
/// padding (peers send the C structure, 24 bytes).
public struct VhostUserInflightDescription: Sendable, Hashable {
    /// The region's size in bytes (set by the back end in its GET_INFLIGHT_FD reply).
    public var mmapSize: UInt64
    /// Where the region starts in its fd.
    public var mmapOffset: UInt64
    /// How many queues the region covers.
    public var queueCount: UInt16
    /// The descriptors tracked per queue (the ring size).
    public var queueSize: UInt16

    public init(mmapSize: UInt64 = 0, mmapOffset: UInt64 = 0, queueCount: UInt16, queueSize: UInt16) {
        self.mmapSize = mmapSize; self.mmapOffset = mmapOffset
        self.queueCount = queueCount; self.queueSize = queueSize
    }

    /// 24 bytes.
    public static let size = 24

    /// The payload.
    public func encoded() -> [UInt8] {
        var w = VhostUserWire.Writer()
        w.u64(mmapSize); w.u64(mmapOffset); w.u16(queueCount); w.u16(queueSize); w.u32(0)
        return w.bytes
    }

    /// Decodes the payload; the values themselves are checked by whoever uses them.
    /// - Throws: ``VhostUserError/malformedPayload(_:)`` unless exactly 24 bytes.
    public init(decoding bytes: [UInt8]) throws(VhostUserError) {
        guard bytes.count == Self.size else { throw .malformedPayload("inflight description of \(bytes.count) bytes") }
        var r = VhostUserWire.Reader(bytes)
        mmapSize = try r.u64(); mmapOffset = try r.u64(); queueCount = try r.u16(); queueSize = try r.u16()
    }
}
