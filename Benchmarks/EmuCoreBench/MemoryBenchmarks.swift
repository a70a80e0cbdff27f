import BenchmarkSupport
import EmuCore
#if canImport(Glibc)
import Glibc
#endif

/// RAM throughput through `GuestMemory` beside `memcpy` of the same bytes (the physical limit),
/// MMIO dispatch per access beside a direct call of the same handler, and flat-view lookup among
/// 1,000 regions beside a bare binary search over the same boundaries.
func runMemoryBenchmarks(scale: Double) throws {
    print("Memory bus")
    let size = 64 << 20
    let system = try MemoryRegion.container(name: "system", size: 1 << 40)
    let ramRegion = try MemoryRegion.ram(name: "ram", size: UInt64(size))
    try system.addSubregion(ramRegion, at: 0)
    let space = AddressSpace(name: "memory", root: system)
    guard let block = ramRegion.ramBlock else { print("  no RAM block"); return }
    memset(block.hostBase, 1, size) // fault every page in before either side is timed

    let rounds = max(1, Int(8 * scale))
    for chunk in [4096, 65536] {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 64)
        defer { buffer.deallocate() }
        guard let host = buffer.baseAddress else { return }
        let bytes = Double(2 * rounds * size)
        let limit = measure("memcpy", operations: bytes, unit: "bytes") {
            for _ in 0..<rounds {
                var offset = 0
                while offset < size {
                    memcpy(host, block.hostBase + offset, chunk)
                    memcpy(block.hostBase + offset, host, chunk)
                    offset += chunk
                }
            }
        }
        let ours = measure("GuestMemory read+write, \(chunk / 1024) KiB chunks", operations: bytes,
                           unit: "bytes") {
            for _ in 0..<rounds {
                var address: UInt64 = 0
                while address < UInt64(size) {
                    do {
                        try space.read(into: buffer, at: address)
                        try space.write(UnsafeRawBufferPointer(buffer), at: address)
                    } catch { print("  unexpected \(error)"); return }
                    address += UInt64(chunk)
                }
            }
        }
        report(ours, against: limit)
    }

    // CPU-style 8-byte accesses to RAM through the bus, beside plain loads.
    let accesses = Int(4_000_000 * scale)
    let mask = UInt64(size - 8) & ~7
    var sink: UInt64 = 0
    let busRAM = measure("bus read, 8 bytes of RAM", operations: Double(accesses)) {
        var address: UInt64 = 0
        for _ in 0..<accesses {
            sink &+= space.read(at: address, size: 8)
            address = (address &+ 4104) & mask
        }
        blackHole(sink)
    }
    let plainLoad = measure("plain load", operations: Double(accesses)) {
        var offset: UInt64 = 0
        for _ in 0..<accesses {
            sink &+= block.hostBase.loadUnaligned(fromByteOffset: Int(offset), as: UInt64.self)
            offset = (offset &+ 4104) & mask
        }
        blackHole(sink)
    }
    report(busRAM, against: plainLoad)

    // MMIO: 1,000 device pages; every access is dispatched to a handler.
    let handler = CountingHandler()
    try MemoryRegion.transaction {
        for i in 0..<1000 {
            let device = try MemoryRegion.mmio(name: "dev\(i)", size: 0x100, handler: handler)
            try system.addSubregion(device, at: 0x1_0000_0000 + UInt64(i) * 0x1000)
        }
    }
    let mmio = measure("MMIO read via bus (1,000 regions)", operations: Double(accesses)) {
        for i in 0..<accesses {
            sink &+= space.read(at: 0x1_0000_0000 + UInt64(i % 1000) * 0x1000 + 8, size: 4)
        }
        blackHole(sink)
    }
    let existential: any MMIOHandler = handler
    let direct = measure("direct handler call", operations: Double(accesses)) {
        for i in 0..<accesses { sink &+= existential.read(offset: UInt64(i & 0xff), size: 4) }
        blackHole(sink)
    }
    report(mmio, against: direct)

    let view = space.flatView
    print("  (flat view: \(view.ranges.count) ranges)")
    let lookups = measure("flat-view lookup, random addresses", operations: Double(accesses)) {
        var x: UInt64 = 12345
        for _ in 0..<accesses {
            x = x &* 6364136223846793005 &+ 1442695040888963407
            let address = 0x1_0000_0000 + (x >> 33) % 1000 * 0x1000
            sink &+= view.lookup(address)?.size ?? 0
        }
    }
    let starts = view.ranges.map(\.start)
    let bare = measure("bare binary search, same boundaries", operations: Double(accesses)) {
        var x: UInt64 = 12345
        starts.withUnsafeBufferPointer { starts in
            for _ in 0..<accesses {
                x = x &* 6364136223846793005 &+ 1442695040888963407
                let address = 0x1_0000_0000 + (x >> 33) % 1000 * 0x1000
                var low = 0, high = starts.count
                while low < high {
                    let mid = (low + high) / 2
                    if starts[mid] <= address { low = mid + 1 } else { high = mid }
                }
                sink &+= UInt64(low)
            }
        }
    }
    report(lookups, against: bare)
    blackHole(sink)
}

/// A register file: what a trivial device does per access. Not inlinable, as the bus can't
/// inline a device either.
private final class CountingHandler: MMIOHandler, @unchecked Sendable {
    // Benchmark-only: registers read and written from the single benchmark thread.
    private var registers = [UInt64](repeating: 7, count: 32)
    @inline(never) func read(offset: UInt64, size: Int) -> UInt64 { registers[Int(offset >> 3) & 31] }
    @inline(never) func write(offset: UInt64, size: Int, value: UInt64) { registers[Int(offset >> 3) & 31] = value }
}
