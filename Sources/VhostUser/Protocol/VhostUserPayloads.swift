// The fixed payload layouts of the front-end messages (vhost-user specification, "Message
// types"), each with an exact-size encoder and a checked decoder.

/// A u64 payload (features, queue counts, acknowledgements, kick/call fd words).
public enum VhostUserU64 {
    /// 8 bytes.
    public static let size = 8
    /// Encodes `value`.
    public static func encode(_ value: UInt64) -> [UInt8] {
        var w = VhostUserWire.Writer(); w.u64(value); return w.bytes
    }
    /// Decodes exactly 8 bytes.
    /// - Throws: ``VhostUserError/malformedPayload(_:)`` for any other size.
    public static func decode(_ bytes: [UInt8]) throws(VhostUserError) -> UInt64 {
        guard bytes.count == size else { throw .malformedPayload("u64 payload of \(bytes.count) bytes") }
        var r = VhostUserWire.Reader(bytes)
        return try r.u64()
    }
}

/// `vhost_vring_state`: a ring index and a number (size, base, enable flag).
public struct VhostUserVringState: Sendable, Hashable {
    public var index: UInt32
    public var number: UInt32
    public init(index: UInt32, number: UInt32) { self.index = index; self.number = number }
    /// 8 bytes.
    public static let size = 8
    /// The payload.
    public func encoded() -> [UInt8] { var w = VhostUserWire.Writer(); w.u32(index); w.u32(number); return w.bytes }
    /// - Throws: ``VhostUserError/malformedPayload(_:)`` unless exactly 8 bytes.
    public init(decoding bytes: [UInt8]) throws(VhostUserError) {
        guard bytes.count == Self.size else { throw .malformedPayload("vring state of \(bytes.count) bytes") }
        var r = VhostUserWire.Reader(bytes)
        index = try r.u32(); number = try r.u32()
    }
}

/// `vhost_vring_addr`: a ring's three areas as **front-end virtual addresses** (translated by the
/// back end through the memory table), and the log address.
public struct VhostUserVringAddress: Sendable, Hashable {
    public var index: UInt32
    /// Bit 0: log writes to the used ring.
    public var flags: UInt32
    public var descriptor: UInt64
    public var used: UInt64
    public var available: UInt64
    public var log: UInt64
    public init(index: UInt32, flags: UInt32 = 0, descriptor: UInt64, used: UInt64, available: UInt64, log: UInt64 = 0) {
        self.index = index; self.flags = flags; self.descriptor = descriptor
        self.used = used; self.available = available; self.log = log
    }
    /// 40 bytes.
    public static let size = 40
    /// The payload.
    public func encoded() -> [UInt8] {
        var w = VhostUserWire.Writer()
        w.u32(index); w.u32(flags); w.u64(descriptor); w.u64(used); w.u64(available); w.u64(log)
        return w.bytes
    }
    /// - Throws: ``VhostUserError/malformedPayload(_:)`` unless exactly 40 bytes.
    public init(decoding bytes: [UInt8]) throws(VhostUserError) {
        guard bytes.count == Self.size else { throw .malformedPayload("vring address of \(bytes.count) bytes") }
        var r = VhostUserWire.Reader(bytes)
        index = try r.u32(); flags = try r.u32(); descriptor = try r.u64()
        used = try r.u64(); available = try r.u64(); log = try r.u64()
    }
}

/// One memory region of SET_MEM_TABLE or ADD/REM_MEM_REG (its fd travels beside the message).
public struct VhostUserMemoryRegionDescriptor: Sendable, Hashable {
    public var guestAddress: UInt64
    public var size: UInt64
    /// Where the front end mapped the region (for SET_VRING_ADDR translation).
    public var userAddress: UInt64
    /// Where the region starts in its fd.
    public var mmapOffset: UInt64
    public init(guestAddress: UInt64, size: UInt64, userAddress: UInt64, mmapOffset: UInt64) {
        self.guestAddress = guestAddress; self.size = size; self.userAddress = userAddress; self.mmapOffset = mmapOffset
    }
    /// 32 bytes.
    public static let size = 32
    func write(to w: inout VhostUserWire.Writer) { w.u64(guestAddress); w.u64(size); w.u64(userAddress); w.u64(mmapOffset) }
    init(reading r: inout VhostUserWire.Reader) throws(VhostUserError) {
        guestAddress = try r.u64(); size = try r.u64(); userAddress = try r.u64(); mmapOffset = try r.u64()
    }
}

/// SET_MEM_TABLE's payload: a count, padding, and up to ``maximumRegions`` regions.
public struct VhostUserMemoryTable: Sendable, Hashable {
    /// The most regions one SET_MEM_TABLE carries (one fd each).
    public static let maximumRegions = 8
    public var regions: [VhostUserMemoryRegionDescriptor]
    public init(regions: [VhostUserMemoryRegionDescriptor]) { self.regions = regions }
    /// `8 + 32 × count` bytes.
    public func encoded() -> [UInt8] {
        var w = VhostUserWire.Writer()
        w.u32(UInt32(regions.count)); w.u32(0)
        for r in regions { r.write(to: &w) }
        return w.bytes
    }
    /// - Throws: ``VhostUserError/malformedPayload(_:)`` for a count above 8 or a size that does not
    ///   hold the regions counted (extra zero bytes up to the full table are allowed).
    public init(decoding bytes: [UInt8]) throws(VhostUserError) {
        var r = VhostUserWire.Reader(bytes)
        let count = try r.u32()
        _ = try r.u32()
        guard count <= Self.maximumRegions else { throw .malformedPayload("memory table of \(count) regions") }
        guard r.remaining >= Int(count) * VhostUserMemoryRegionDescriptor.size,
              bytes.count <= 8 + Self.maximumRegions * VhostUserMemoryRegionDescriptor.size
        else { throw .malformedPayload("memory table of \(count) regions in \(bytes.count) bytes") }
        var regions: [VhostUserMemoryRegionDescriptor] = []
        for _ in 0..<count { regions.append(try VhostUserMemoryRegionDescriptor(reading: &r)) }
        self.regions = regions
    }
}

/// ADD_MEM_REG / REM_MEM_REG payload: 8 bytes of padding, one region.
public enum VhostUserSingleRegion {
    /// 40 bytes.
    public static let size = 40
    /// The payload.
    public static func encode(_ region: VhostUserMemoryRegionDescriptor) -> [UInt8] {
        var w = VhostUserWire.Writer(); w.u64(0); region.write(to: &w); return w.bytes
    }
    /// - Throws: ``VhostUserError/malformedPayload(_:)`` unless exactly 40 bytes.
    public static func decode(_ bytes: [UInt8]) throws(VhostUserError) -> VhostUserMemoryRegionDescriptor {
        guard bytes.count == size else { throw .malformedPayload("single region of \(bytes.count) bytes") }
        var r = VhostUserWire.Reader(bytes)
        _ = try r.u64()
        return try VhostUserMemoryRegionDescriptor(reading: &r)
    }
}

/// GET_CONFIG / SET_CONFIG payload: offset, size, flags, then `size` bytes of config space.
public struct VhostUserConfigPayload: Sendable, Hashable {
    /// The most config bytes one message carries.
    public static let maximumSize = 256
    public var offset: UInt32
    public var flags: UInt32
    public var bytes: [UInt8]
    public init(offset: UInt32, flags: UInt32 = 0, bytes: [UInt8]) { self.offset = offset; self.flags = flags; self.bytes = bytes }
    /// `12 + bytes.count` bytes.
    public func encoded() -> [UInt8] {
        var w = VhostUserWire.Writer()
        w.u32(offset); w.u32(UInt32(bytes.count)); w.u32(flags)
        w.bytes.append(contentsOf: bytes)
        return w.bytes
    }
    /// - Throws: ``VhostUserError/malformedPayload(_:)`` for a size above 256 or one that does not
    ///   match the payload length.
    public init(decoding payload: [UInt8]) throws(VhostUserError) {
        var r = VhostUserWire.Reader(payload)
        offset = try r.u32()
        let size = try r.u32()
        flags = try r.u32()
        guard size <= UInt32(Self.maximumSize), r.remaining == Int(size) else {
            throw .malformedPayload("config of \(size) bytes in a \(payload.count)-byte payload")
        }
        bytes = try r.take(Int(size))
    }
}

/// The u64 of SET_VRING_KICK/CALL/ERR: the ring index in bits 0–7, bit 8 set when no fd is sent
/// (polling mode; the back end must not wait for kicks / we do not want calls).
public struct VhostUserVringFileWord: Sendable, Hashable {
    public var index: UInt8
    public var noDescriptor: Bool
    public init(index: UInt8, noDescriptor: Bool) { self.index = index; self.noDescriptor = noDescriptor }
    /// The word.
    public var rawValue: UInt64 { UInt64(index) | (noDescriptor ? 1 << 8 : 0) }
    /// - Throws: ``VhostUserError/malformedPayload(_:)`` for bits above 8.
    public init(rawValue: UInt64) throws(VhostUserError) {
        guard rawValue & ~0x1FF == 0 else { throw .malformedPayload("vring fd word 0x\(String(rawValue, radix: 16))") }
        index = UInt8(rawValue & 0xFF); noDescriptor = rawValue & 0x100 != 0
    }
}
