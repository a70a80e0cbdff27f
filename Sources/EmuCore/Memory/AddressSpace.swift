import Synchronization

/// A guest-visible address space (CPU memory or I/O ports) rooted at a ``MemoryRegion``.
///
/// It keeps a ``FlatView`` that the topology code rebuilds and swaps in whenever a region it
/// can see changes; accesses copy out the current view (a brief lock around a reference copy)
/// and then work on that immutable snapshot without any lock, so MMIO handlers may access this
/// or another address space, or change the topology, while being called.
///
/// Bus accesses (``read(at:size:)``, ``write(at:size:value:)``, ``readBytes(at:into:)``,
/// ``writeBytes(at:from:)``) never fail, like a CPU bus: unassigned bytes read as `0xff` and
/// swallow writes, ROM swallows writes, any size 1...8 and any alignment is accepted, and an
/// access crossing ranges is split and each byte range sent to its own region (little-endian).
/// Bytes at or beyond the end of the address space (including anything past `UInt64.max`,
/// which never wraps) are unassigned. The last address, `UInt64.max`, is always unassigned.
public final class AddressSpace: Sendable, CustomStringConvertible {
    /// Which kind of bus this is.
    public enum Kind: Sendable {
        /// 64-bit memory space.
        case memory
        /// x86-style I/O ports: only `0..<0x10000` decodes.
        case io

        /// Addresses `>= limit` are unassigned.
        public var limit: UInt64 { self == .memory ? .max : 0x10000 }
    }

    /// A label for dumps.
    public let name: String
    /// The region shown at address 0.
    public let root: MemoryRegion
    /// Memory or I/O ports.
    public let kind: Kind
    private let current: Mutex<FlatView>

    /// Creates the address space and builds its first flat view (generation 1).
    public init(name: String, root: MemoryRegion, kind: Kind = .memory) {
        self.name = name
        self.root = root
        self.kind = kind
        self.current = Mutex(FlatView.empty)
        Topology.register(self)
    }

    /// The current flat view (an immutable snapshot).
    public var flatView: FlatView { current.withLock { $0 } }

    /// Rebuilds and installs the view; returns the regions it reached. Topology lock held.
    func rebuildLocked() -> Set<ObjectIdentifier> {
        let generation = current.withLock { $0.generation } + 1
        let (view, visited) = Flattener.flatten(root: root, limit: kind.limit, generation: generation)
        current.withLock { $0 = view }
        MemoryMapGeneration.advance()
        return visited
    }

    /// `info mtree -f`-style dump of the current flat view.
    public func describe() -> String { flatView.describe(name: name) }

    public var description: String { "AddressSpace(\(name))" }

    // MARK: Bus access

    /// Reads `size` bytes (1...8) at `address`, little-endian. Never fails: unassigned bytes read
    /// as `0xff`; a `size` outside 1...8 returns `UInt64.max` without touching any region.
    public func read(at address: UInt64, size: Int) -> UInt64 {
        guard size >= 1 && size <= 8 else { return .max }
        return flatView.busRead(address, size)
    }

    /// Writes the low `size` bytes (1...8) of `value` at `address`, little-endian. Never fails:
    /// writes to ROM or unassigned addresses are ignored; a `size` outside 1...8 is ignored.
    public func write(at address: UInt64, size: Int, value: UInt64) {
        guard size >= 1 && size <= 8 else { return }
        flatView.busWrite(address, size, value)
    }

    /// Reads `buffer.count` bytes at `address` with bus semantics (as a CPU string instruction or
    /// a debugger would): RAM/ROM copied, MMIO in pieces of up to 8 bytes, unassigned as `0xff`.
    public func readBytes(at address: UInt64, into buffer: UnsafeMutableRawBufferPointer) {
        flatView.busReadBytes(address, buffer)
    }

    /// Writes `bytes` at `address` with bus semantics (ROM and unassigned swallow writes).
    public func writeBytes(at address: UInt64, from bytes: UnsafeRawBufferPointer) {
        flatView.busWriteBytes(address, bytes)
    }

    /// Convenience: reads `count` bytes with bus semantics (`count <= 0` gives `[]`).
    public func readBytes(at address: UInt64, count: Int) -> [UInt8] {
        guard count > 0 else { return [] }
        return [UInt8](unsafeUninitializedCapacity: count) { buf, initialized in
            readBytes(at: address, into: UnsafeMutableRawBufferPointer(buf))
            initialized = count
        }
    }

    /// Convenience: writes `bytes` with bus semantics.
    public func writeBytes(_ bytes: [UInt8], at address: UInt64) {
        bytes.withUnsafeBytes { writeBytes(at: address, from: $0) }
    }
}

// MARK: - Bus access on a snapshot

extension FlatRange {
    /// Reads `size` (1...8) bytes at `off` bytes into this range.
    @inline(__always)
    func busRead(_ off: UInt64, _ size: Int) -> UInt64 {
        let o = offsetInRegion + off
        switch target {
        case .ram(let b), .rom(let b):
            return loadLE(b.hostBase + Int(o), size)
        case .mmio(let h):
            return MMIODispatch.read(h, offset: o, size: size)
        }
    }

    @inline(__always)
    func busWrite(_ off: UInt64, _ size: Int, _ value: UInt64) {
        let o = offsetInRegion + off
        switch target {
        case .ram(let b):
            storeLE(b.hostBase + Int(o), size, value)
            b.markDirty(offset: o, length: UInt64(size))
        case .rom:
            break
        case .mmio(let h):
            MMIODispatch.write(h, offset: o, size: size, value: value)
        }
    }
}

@inline(__always)
func loadLE(_ p: UnsafeRawPointer, _ size: Int) -> UInt64 {
    switch size {
    case 1: return UInt64(p.load(as: UInt8.self))
    case 2: return UInt64(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self)))
    case 4: return UInt64(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
    case 8: return UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))
    default:
        var v: UInt64 = 0
        withUnsafeMutableBytes(of: &v) { $0.baseAddress?.copyMemory(from: p, byteCount: min(size, 8)) }
        return UInt64(littleEndian: v)
    }
}

@inline(__always)
func storeLE(_ p: UnsafeMutableRawPointer, _ size: Int, _ value: UInt64) {
    switch size {
    case 1: p.storeBytes(of: UInt8(truncatingIfNeeded: value), as: UInt8.self)
    case 2: p.storeBytes(of: UInt16(truncatingIfNeeded: value).littleEndian, as: UInt16.self)
    case 4: p.storeBytes(of: UInt32(truncatingIfNeeded: value).littleEndian, as: UInt32.self)
    case 8: p.storeBytes(of: value.littleEndian, as: UInt64.self)
    default:
        var v = value.littleEndian
        withUnsafeBytes(of: &v) { src in
            if let s = src.baseAddress { p.copyMemory(from: s, byteCount: min(size, 8)) }
        }
    }
}

extension FlatView {
    func busRead(_ address: UInt64, _ size: Int) -> UInt64 {
        let n = UInt64(size)
        if let i = index(containing: address) {
            let r = ranges[i]
            let off = address - r.start
            if r.size - off >= n { return r.busRead(off, size) }
        }
        var result: UInt64 = 0
        var done = 0
        while done < size {
            let (pos, over) = address.addingReportingOverflow(UInt64(done))
            let (idx, len): (Int?, UInt64) = over ? (nil, UInt64(size - done))
                                                  : segment(at: pos, limit: UInt64(size - done))
            let part = idx.map { ranges[$0].busRead(pos - ranges[$0].start, Int(len)) }
                ?? MMIODispatch.mask(Int(len))
            result |= part << UInt64(done * 8)
            done += Int(len)
        }
        return result
    }

    func busWrite(_ address: UInt64, _ size: Int, _ value: UInt64) {
        let n = UInt64(size)
        if let i = index(containing: address) {
            let r = ranges[i]
            let off = address - r.start
            if r.size - off >= n {
                r.busWrite(off, size, value)
                return
            }
        }
        var done = 0
        while done < size {
            let (pos, over) = address.addingReportingOverflow(UInt64(done))
            if over { return }
            let (idx, len) = segment(at: pos, limit: UInt64(size - done))
            if let idx {
                let r = ranges[idx]
                r.busWrite(pos - r.start, Int(len), value >> UInt64(done * 8))
            }
            done += Int(len)
        }
    }

    func busReadBytes(_ address: UInt64, _ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        var done = 0
        while done < buffer.count {
            let remaining = UInt64(buffer.count - done)
            let (pos, over) = address.addingReportingOverflow(UInt64(done))
            if over {
                (base + done).initializeMemory(as: UInt8.self, repeating: 0xff, count: Int(remaining))
                return
            }
            let (idx, len) = segment(at: pos, limit: remaining)
            let dst = base + done
            if let idx {
                let r = ranges[idx]
                let o = r.offsetInRegion + (pos - r.start)
                switch r.target {
                case .ram(let b), .rom(let b):
                    dst.copyMemory(from: b.hostBase + Int(o), byteCount: Int(len))
                case .mmio(let h):
                    var k = 0
                    while k < Int(len) {
                        let piece = min(8, Int(len) - k)
                        storeLE(dst + k, piece, MMIODispatch.read(h, offset: o + UInt64(k), size: piece))
                        k += piece
                    }
                }
            } else {
                dst.initializeMemory(as: UInt8.self, repeating: 0xff, count: Int(len))
            }
            done += Int(len)
        }
    }

    func busWriteBytes(_ address: UInt64, _ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        var done = 0
        while done < bytes.count {
            let remaining = UInt64(bytes.count - done)
            let (pos, over) = address.addingReportingOverflow(UInt64(done))
            if over { return }
            let (idx, len) = segment(at: pos, limit: remaining)
            if let idx {
                let r = ranges[idx]
                let o = r.offsetInRegion + (pos - r.start)
                let src = base + done
                switch r.target {
                case .ram(let b):
                    (b.hostBase + Int(o)).copyMemory(from: src, byteCount: Int(len))
                    b.markDirty(offset: o, length: len)
                case .rom:
                    break
                case .mmio(let h):
                    var k = 0
                    while k < Int(len) {
                        let piece = min(8, Int(len) - k)
                        MMIODispatch.write(h, offset: o + UInt64(k), size: piece, value: loadLE(src + k, piece))
                        k += piece
                    }
                }
            }
            done += Int(len)
        }
    }
}
