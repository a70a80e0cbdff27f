import Synchronization

/// One base address register's resource.
public struct PCIBar: Sendable, Hashable {
    /// What the BAR decodes.
    public enum Kind: Sendable, Hashable {
        /// 32-bit memory space.
        case memory32
        /// 64-bit memory space (takes this BAR and the next).
        case memory64
        /// I/O ports.
        case io
    }

    /// The kind of space.
    public let kind: Kind
    /// Size in bytes: a power of two, at least 16 for memory and 4 for I/O.
    public let size: UInt64
    /// Memory only: the region may be prefetched.
    public let prefetchable: Bool

    /// `nil` unless `size` is a power of two of at least 16 (memory) or 4 (I/O, at most 256).
    public init?(_ kind: Kind, size: UInt64, prefetchable: Bool = false) {
        guard size & (size &- 1) == 0, size >= (kind == .io ? 4 : 16), kind != .io || size <= 256,
              kind != .memory32 || size <= 1 << 31 else { return nil }
        self.kind = kind
        self.size = size
        self.prefetchable = prefetchable && kind != .io
    }
}

/// Registers in a configuration space served by their owner rather than stored bytes (see
/// ``PCIConfigurationSpace/addWindow(_:handler:)``). Offsets are relative to the window's start.
public protocol PCIConfigurationWindow: Sendable {
    /// A read of `size` (1, 2 or 4) bytes wholly inside the window.
    func read(offset: Int, size: Int) -> UInt32
    /// A write of `size` (1, 2 or 4) bytes wholly inside the window.
    func write(offset: Int, size: Int, value: UInt32)
}

/// Why a configuration space layout was refused (host programming errors).
public enum PCIConfigurationError: Error, Equatable, Sendable {
    /// BAR `index` is out of 0...5, or a 64-bit BAR at 5, or it overlaps the previous 64-bit BAR.
    case invalidBar(Int)
    /// The capabilities do not fit in the 256-byte space.
    case noRoomForCapability(id: UInt8, length: Int)
}

/// A PCI function's type-0 configuration space (256 bytes): identity, command and status,
/// BAR sizing, the interrupt pin, and a capability list. Guest writes touch only writable bits;
/// status bits marked write-one-to-clear clear on 1.
///
/// Thread-safe; the owner (a device model) observes guest writes through `onWrite`.
public final class PCIConfigurationSpace: Sendable {
    /// Register offsets of the type-0 header.
    public enum Offset {
        public static let vendorID = 0x00, deviceID = 0x02, command = 0x04, status = 0x06
        public static let revision = 0x08, classCode = 0x09, headerType = 0x0E, bar0 = 0x10
        public static let subsystemVendorID = 0x2C, subsystemID = 0x2E, capabilitiesPointer = 0x34
        public static let interruptLine = 0x3C, interruptPin = 0x3D
    }

    /// Command register bits.
    public enum Command {
        public static let ioSpace: UInt16 = 1 << 0
        public static let memorySpace: UInt16 = 1 << 1
        public static let busMaster: UInt16 = 1 << 2
        public static let interruptDisable: UInt16 = 1 << 10
    }

    /// Status register bits.
    public enum Status {
        public static let interrupt: UInt16 = 1 << 3
        public static let capabilitiesList: UInt16 = 1 << 4
    }

    private struct Storage {
        var bytes = [UInt8](repeating: 0, count: 256)
        var writable = [UInt8](repeating: 0, count: 256)
        var bars: [PCIBar?] = Array(repeating: nil, count: 6)
        var nextCapability = 0x40
        var lastCapability: Int? = nil
    }

    private let storage: Mutex<Storage>
    private let observer = Mutex<(@Sendable (_ offset: Int, _ size: Int) -> Void)?>(nil)
    private let windows = Mutex<[(range: Range<Int>, handler: any PCIConfigurationWindow)]>([])

    /// A function with the given identity and BARs (index → resource).
    /// - Throws: ``PCIConfigurationError/invalidBar(_:)``.
    public init(vendorID: UInt16, deviceID: UInt16, revision: UInt8, classCode: UInt32,
                subsystemVendorID: UInt16, subsystemID: UInt16, interruptPin: UInt8,
                bars: [Int: PCIBar]) throws(PCIConfigurationError)
    {
        var s = Storage()
        func put16(_ v: UInt16, _ o: Int) { s.bytes[o] = UInt8(v & 0xFF); s.bytes[o + 1] = UInt8(v >> 8) }
        put16(vendorID, Offset.vendorID)
        put16(deviceID, Offset.deviceID)
        s.bytes[Offset.revision] = revision
        s.bytes[Offset.classCode] = UInt8(classCode & 0xFF)
        s.bytes[Offset.classCode + 1] = UInt8((classCode >> 8) & 0xFF)
        s.bytes[Offset.classCode + 2] = UInt8((classCode >> 16) & 0xFF)
        put16(subsystemVendorID, Offset.subsystemVendorID)
        put16(subsystemID, Offset.subsystemID)
        s.bytes[Offset.interruptPin] = interruptPin
        // Command: I/O, memory, bus master, INTx disable are writable.
        s.writable[Offset.command] = 0x07
        s.writable[Offset.command + 1] = 0x04
        s.writable[Offset.interruptLine] = 0xFF
        for (index, bar) in bars.sorted(by: { $0.key < $1.key }) {
            guard (0...5).contains(index), s.bars[index] == nil, bar.kind != .memory64 || index < 5,
                  index == 0 || s.bars[index - 1]?.kind != .memory64 else { throw .invalidBar(index) }
            s.bars[index] = bar
            let o = Offset.bar0 + 4 * index
            let low: UInt32
            switch bar.kind {
            case .io: low = 1
            case .memory32: low = bar.prefetchable ? 0x8 : 0
            case .memory64: low = 0x4 | (bar.prefetchable ? 0x8 : 0)
            }
            let mask = UInt32(truncatingIfNeeded: ~(bar.size - 1))
            for i in 0..<4 {
                s.bytes[o + i] = UInt8((low >> (8 * UInt32(i))) & 0xFF)
                s.writable[o + i] = UInt8((mask >> (8 * UInt32(i))) & 0xFF) & (i == 0 ? (bar.kind == .io ? 0xFC : 0xF0) : 0xFF)
            }
            if bar.kind == .memory64 {
                let highMask = UInt32(truncatingIfNeeded: ~(bar.size - 1) >> 32)
                for i in 0..<4 { s.writable[o + 4 + i] = UInt8((highMask >> (8 * UInt32(i))) & 0xFF) }
            }
        }
        storage = Mutex(s)
    }

    /// Calls `observer` after each guest write (outside the space's lock), e.g. so the owner
    /// sees MSI-X being enabled. Replaces an earlier observer.
    public func observeWrites(_ observer: @escaping @Sendable (_ offset: Int, _ size: Int) -> Void) {
        self.observer.withLock { $0 = observer }
    }

    /// Appends a capability: `id`, then `body` (the bytes after the ID and next pointer), with
    /// `writableMask` (same length as `body`, or empty for read-only) telling which bits the
    /// guest may change. Returns the capability's offset.
    /// - Throws: ``PCIConfigurationError/noRoomForCapability(id:length:)``.
    @discardableResult
    public func addCapability(id: UInt8, body: [UInt8], writableMask: [UInt8] = []) throws(PCIConfigurationError) -> Int {
        try storage.withLock { (s) throws(PCIConfigurationError) -> Int in
            let offset = s.nextCapability
            let length = 2 + body.count
            guard offset + length <= 256, writableMask.isEmpty || writableMask.count == body.count else {
                throw .noRoomForCapability(id: id, length: length)
            }
            s.bytes[offset] = id
            s.bytes[offset + 1] = 0
            for (i, b) in body.enumerated() {
                s.bytes[offset + 2 + i] = b
                s.writable[offset + 2 + i] = writableMask.isEmpty ? 0 : writableMask[i]
            }
            if let last = s.lastCapability { s.bytes[last + 1] = UInt8(offset) } else {
                s.bytes[Offset.capabilitiesPointer] = UInt8(offset)
                s.bytes[Offset.status] |= UInt8(Status.capabilitiesList)
            }
            s.lastCapability = offset
            s.nextCapability = (offset + length + 3) & ~3
            return offset
        }
    }

    /// Hands guest accesses that fall wholly inside `offsets` to `handler` instead of the stored
    /// bytes (an access that only overlaps the window is ignored, reads 0). For registers whose
    /// reads have side effects or come from elsewhere, such as virtio's `VIRTIO_PCI_CAP_PCI_CFG`
    /// data window. The handler runs outside the space's lock, so it may read the space.
    public func addWindow(_ offsets: Range<Int>, handler: any PCIConfigurationWindow) {
        windows.withLock { $0.append((offsets, handler)) }
    }

    /// The window an access of `size` at `offset` touches: `.none`, wholly inside one, or straddling.
    private func window(at offset: Int, size: Int) -> (handler: any PCIConfigurationWindow, offset: Int)?? {
        windows.withLock { list -> (handler: any PCIConfigurationWindow, offset: Int)?? in
            for w in list where w.range.overlaps(offset..<offset + size) {
                guard w.range.contains(offset), w.range.contains(offset + size - 1) else { return .some(nil) }
                return .some((w.handler, offset - w.range.lowerBound))
            }
            return .none
        }
    }

    /// A guest (or host bridge) read of `size` (1, 2 or 4) bytes at `offset`; out of range reads 0.
    public func read(offset: Int, size: Int) -> UInt32 {
        guard [1, 2, 4].contains(size), offset >= 0, offset + size <= 256 else { return 0 }
        if let hit = window(at: offset, size: size) {
            return hit.map { $0.handler.read(offset: $0.offset, size: size) } ?? 0
        }
        return storage.withLock { s in (0..<size).reduce(UInt32(0)) { $0 | UInt32(s.bytes[offset + $1]) << (8 * UInt32($1)) } }
    }

    /// A guest write: only writable bits change; out-of-range writes are ignored.
    public func write(offset: Int, size: Int, value: UInt32) {
        guard [1, 2, 4].contains(size), offset >= 0, offset + size <= 256 else { return }
        if let hit = window(at: offset, size: size) {
            hit.map { $0.handler.write(offset: $0.offset, size: size, value: value) }
            return
        }
        storage.withLock { s in
            for i in 0..<size {
                let b = UInt8((value >> (8 * UInt32(i))) & 0xFF)
                let o = offset + i
                s.bytes[o] = (s.bytes[o] & ~s.writable[o]) | (b & s.writable[o])
            }
        }
        observer.withLock { $0 }?(offset, size)
    }

    /// Host-side access to the owner's registers (e.g. its capability bytes), under the lock.
    public func withBytes<R>(_ body: (inout [UInt8]) -> R) -> R {
        storage.withLock { body(&$0.bytes) }
    }

    /// The command register.
    public var command: UInt16 { UInt16(read(offset: Offset.command, size: 2)) }

    /// Sets or clears the interrupt status bit (the device's INTx state, as software sees it).
    public func setInterruptStatus(_ pending: Bool) {
        storage.withLock { s in
            if pending { s.bytes[Offset.status] |= UInt8(Status.interrupt) } else { s.bytes[Offset.status] &= ~UInt8(Status.interrupt) }
        }
    }

    /// The guest-programmed base address of BAR `index`, or `nil` if it has no resource or its
    /// space is disabled in the command register.
    public func barAddress(_ index: Int) -> UInt64? {
        storage.withLock { s -> UInt64? in
            guard (0...5).contains(index), let bar = s.bars[index] else { return nil }
            let command = UInt16(s.bytes[Offset.command]) | UInt16(s.bytes[Offset.command + 1]) << 8
            guard command & (bar.kind == .io ? Command.ioSpace : Command.memorySpace) != 0 else { return nil }
            let o = Offset.bar0 + 4 * index
            var value = (0..<4).reduce(UInt64(0)) { $0 | UInt64(s.bytes[o + $1]) << (8 * UInt64($1)) }
            if bar.kind == .memory64 {
                value |= (0..<4).reduce(UInt64(0)) { $0 | UInt64(s.bytes[o + 4 + $1]) << (8 * UInt64($1)) } << 32
            }
            return value & ~(bar.kind == .io ? 0x3 : 0xF)
        }
    }

    /// BAR `index`'s resource, if any.
    public func bar(_ index: Int) -> PCIBar? {
        (0...5).contains(index) ? storage.withLock { $0.bars[index] } : nil
    }
}
