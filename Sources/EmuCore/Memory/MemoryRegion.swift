/// Host-side programming errors in building a memory topology. Never caused by guest input.
public enum MemoryRegionError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A region must have a size greater than zero.
    case zeroSize(region: String)
    /// A RAM/ROM region is larger than its ``RAMBlock``.
    case largerThanBlock(region: String, size: UInt64, blockSize: UInt64)
    /// `addSubregion`/`removeSubregion` on a region that is not a container.
    case notAContainer(region: String)
    /// The region already sits in a container (a region may be in at most one).
    case alreadyInContainer(region: String, container: String)
    /// `removeSubregion` with a region that is not a direct subregion of this container.
    case notASubregion(region: String, container: String)
    /// Adding the region would make a container (indirectly) contain itself.
    case wouldContainItself(region: String, container: String)
    /// A host fill of a RAM/ROM region does not fit, or the region is not RAM/ROM.
    case invalidHostWrite(region: String, offset: UInt64, length: UInt64)

    public var description: String {
        switch self {
        case .zeroSize(let r): return "memory region '\(r)' has size 0"
        case .largerThanBlock(let r, let size, let block):
            return "memory region '\(r)' (size \(size)) is larger than its RAM block (\(block))"
        case .notAContainer(let r): return "memory region '\(r)' is not a container"
        case .alreadyInContainer(let r, let c): return "memory region '\(r)' is already in container '\(c)'"
        case .notASubregion(let r, let c): return "memory region '\(r)' is not a subregion of '\(c)'"
        case .wouldContainItself(let r, let c):
            return "adding '\(r)' to '\(c)' would make a container contain itself"
        case .invalidHostWrite(let r, let offset, let length):
            return "host write of \(length) bytes at offset \(offset) does not fit RAM/ROM region '\(r)'"
        }
    }
}

/// A node of the guest memory topology, like QEMU's `MemoryRegion`.
///
/// Leaves are RAM, ROM (guest writes ignored) and MMIO; an alias shows a window of another
/// region; a container holds subregions at offsets with priorities. Overlap is allowed:
/// within a container the subregion with the higher priority wins; **on equal priority the one
/// added later wins**. Where no subregion covers a container's range, lower layers (the
/// container's own siblings) show through; in an address space, what nothing covers is
/// unassigned.
///
/// All topology state (subregions, offsets, priorities, enablement) is protected by one global
/// topology lock; every mutation rebuilds, before returning, the flat views of the
/// ``AddressSpace``s that can see the changed region (unless inside ``transaction(_:)``).
///
/// `@unchecked Sendable` is sound because `name`, `size` and `kind` are immutable and the mutable
/// topology fields are read and written only while holding the global topology lock.
public final class MemoryRegion: @unchecked Sendable, CustomStringConvertible {
    /// What a region is.
    public enum Kind: Sendable {
        /// Guest RAM in a memfd-backed block (the region shows the block's first `size` bytes).
        case ram(RAMBlock)
        /// Read-only for the guest (writes are ignored on the bus, refused by ``GuestMemory``);
        /// the host fills it with ``MemoryRegion/hostWrite(_:at:)``.
        case rom(RAMBlock)
        /// A device model.
        case mmio(any MMIOHandler)
        /// A window of `size` bytes onto `of`, starting at `offset` within it.
        case alias(of: MemoryRegion, offset: UInt64)
        /// Holds subregions; shows nothing of its own.
        case container
    }

    /// A label shown in dumps and errors.
    public let name: String
    /// Size in bytes (> 0).
    public let size: UInt64
    /// What the region is.
    public let kind: Kind

    // Guarded by the global topology lock.
    weak var _container: MemoryRegion?
    var _offset: UInt64 = 0
    var _priority: Int = 0
    var _sequence: UInt64 = 0
    var _enabled = true
    var _subregions: [MemoryRegion] = []

    /// Creates a region. Prefer the static factories (``ram(name:size:)`` etc.).
    ///
    /// - Throws: ``MemoryRegionError/zeroSize(region:)``;
    ///   ``MemoryRegionError/largerThanBlock(region:size:blockSize:)`` for RAM/ROM.
    public init(name: String, size: UInt64, kind: Kind) throws(MemoryRegionError) {
        guard size > 0 else { throw .zeroSize(region: name) }
        switch kind {
        case .ram(let block), .rom(let block):
            guard size <= block.size else {
                throw .largerThanBlock(region: name, size: size, blockSize: block.size)
            }
        default: break
        }
        self.name = name
        self.size = size
        self.kind = kind
    }

    /// A RAM region with a fresh memfd-backed ``RAMBlock`` of `size` bytes.
    /// - Throws: ``RAMBlockError`` if the block cannot be created; ``MemoryRegionError`` for size 0.
    public static func ram(name: String, size: UInt64) throws -> MemoryRegion {
        try MemoryRegion(name: name, size: size, kind: .ram(RAMBlock(name: name, size: size)))
    }

    /// A ROM region with a fresh zero-filled ``RAMBlock``; fill it with ``hostWrite(_:at:)``.
    /// - Throws: like ``ram(name:size:)``.
    public static func rom(name: String, size: UInt64) throws -> MemoryRegion {
        try MemoryRegion(name: name, size: size, kind: .rom(RAMBlock(name: name, size: size)))
    }

    /// An MMIO region dispatching to `handler`.
    /// - Throws: ``MemoryRegionError/zeroSize(region:)``.
    public static func mmio(name: String, size: UInt64, handler: any MMIOHandler) throws(MemoryRegionError) -> MemoryRegion {
        try MemoryRegion(name: name, size: size, kind: .mmio(handler))
    }

    /// An alias showing `size` bytes of `target` starting at `offset` (parts beyond the target's
    /// end are unassigned).
    /// - Throws: ``MemoryRegionError/zeroSize(region:)``.
    public static func alias(name: String, of target: MemoryRegion, offset: UInt64, size: UInt64) throws(MemoryRegionError) -> MemoryRegion {
        try MemoryRegion(name: name, size: size, kind: .alias(of: target, offset: offset))
    }

    /// An empty container.
    /// - Throws: ``MemoryRegionError/zeroSize(region:)``.
    public static func container(name: String, size: UInt64) throws(MemoryRegionError) -> MemoryRegion {
        try MemoryRegion(name: name, size: size, kind: .container)
    }

    /// The RAM block behind a RAM or ROM region, else `nil`.
    public var ramBlock: RAMBlock? {
        switch kind {
        case .ram(let b), .rom(let b): return b
        default: return nil
        }
    }

    public var description: String { "MemoryRegion(\(name), size: 0x\(String(size, radix: 16)))" }

    // MARK: Topology (each public accessor takes the global topology lock)

    /// The container this region is in, if any.
    public var container: MemoryRegion? { Topology.withLock { _ in _container } }

    /// Offset of this region within its container (0 when not in one).
    public var offsetInContainer: UInt64 { Topology.withLock { _ in _offset } }

    /// Direct subregions, in the order they were added.
    public var subregions: [MemoryRegion] { Topology.withLock { _ in _subregions } }

    /// Whether the region takes part in address decoding. A disabled region (and everything
    /// under it) is invisible; what is below shows through. Setting rebuilds affected views.
    public var isEnabled: Bool {
        get { Topology.withLock { _ in _enabled } }
        set {
            Topology.withLock { state in
                guard _enabled != newValue else { return }
                _enabled = newValue
                Topology.changed(self, &state)
            }
        }
    }

    /// Priority among the container's subregions (higher wins). Setting rebuilds affected views.
    public var priority: Int {
        get { Topology.withLock { _ in _priority } }
        set {
            Topology.withLock { state in
                guard _priority != newValue else { return }
                _priority = newValue
                // Every subregion of a rendered container is in the visited set, so marking
                // the region alone reaches every view it can affect (and rebuilds it once).
                Topology.changed(self, &state)
            }
        }
    }

    /// Puts `subregion` into this container at `offset` with `priority`.
    ///
    /// Parts of the subregion beyond this container's size are clipped. Rebuilds affected views.
    /// - Throws: ``MemoryRegionError/notAContainer(region:)``,
    ///   ``MemoryRegionError/alreadyInContainer(region:container:)`` (a region may be in one
    ///   container only), ``MemoryRegionError/wouldContainItself(region:container:)``.
    public func addSubregion(_ subregion: MemoryRegion, at offset: UInt64, priority: Int = 0) throws(MemoryRegionError) {
        guard case .container = kind else { throw .notAContainer(region: name) }
        try Topology.withLock { (state) throws(MemoryRegionError) in
            if let existing = subregion._container {
                throw .alreadyInContainer(region: subregion.name, container: existing.name)
            }
            var ancestor: MemoryRegion? = self
            while let a = ancestor {
                if a === subregion { throw .wouldContainItself(region: subregion.name, container: name) }
                ancestor = a._container
            }
            subregion._container = self
            subregion._offset = offset
            subregion._priority = priority
            subregion._sequence = state.nextSequence
            state.nextSequence += 1
            _subregions.append(subregion)
            Topology.changed(self, &state)
        }
    }

    /// Takes `subregion` out of this container; it may then be added elsewhere.
    /// Rebuilds affected views.
    /// - Throws: ``MemoryRegionError/notASubregion(region:container:)``.
    public func removeSubregion(_ subregion: MemoryRegion) throws(MemoryRegionError) {
        try Topology.withLock { (state) throws(MemoryRegionError) in
            guard subregion._container === self,
                  let index = _subregions.firstIndex(where: { $0 === subregion }) else {
                throw .notASubregion(region: subregion.name, container: name)
            }
            _subregions.remove(at: index)
            subregion._container = nil
            subregion._offset = 0
            Topology.changed(self, &state)
        }
    }

    /// Moves this region to `offset` within its container (no-op when not in one).
    /// Rebuilds affected views.
    public func setOffsetInContainer(_ offset: UInt64) {
        Topology.withLock { state in
            guard let c = _container, _offset != offset else { return }
            _offset = offset
            Topology.changed(c, &state)
        }
    }

    /// Host write into a RAM or ROM region's bytes (e.g. loading firmware into ROM). Marks the
    /// pages dirty for every tracking client.
    /// - Throws: ``MemoryRegionError/invalidHostWrite(region:offset:length:)`` if the region is
    ///   not RAM/ROM or the bytes do not fit in the region.
    public func hostWrite(_ bytes: [UInt8], at offset: UInt64) throws(MemoryRegionError) {
        let length = UInt64(bytes.count)
        guard let block = ramBlock, offset <= size, length <= size - offset else {
            throw .invalidHostWrite(region: name, offset: offset, length: length)
        }
        // In bounds: the region lies within its block (checked at init).
        bytes.withUnsafeBytes { raw in
            guard let src = raw.baseAddress, raw.count > 0 else { return }
            (block.hostBase + Int(offset)).copyMemory(from: src, byteCount: raw.count)
        }
        block.markDirty(offset: offset, length: length)
    }

    /// Runs `body` with rebuilds deferred: all topology changes the calling thread makes inside
    /// cause one rebuild per affected address space when its outermost transaction ends (also
    /// when `body` throws). Nested transactions are allowed.
    ///
    /// Transactions are per thread: another thread's changes are applied (and visible) when
    /// its call returns, even while this thread's transaction is open. A rebuild caused by
    /// another thread reads the whole current tree, so it may already show some of this
    /// transaction's changes; the transaction guarantees the number of rebuilds, not isolation.
    public static func transaction<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        Topology.beginTransaction()
        defer { Topology.endTransaction() }
        return try body()
    }
}

