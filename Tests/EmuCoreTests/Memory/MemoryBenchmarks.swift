import Testing
import Glibc
@testable import EmuCore

/// Rough numbers, printed, not asserted. Run with `EMU_BENCH=1 swift test -c release --filter MemoryBenchmarks`.
@Suite("Memory benchmarks", .enabled(if: getenv("EMU_BENCH") != nil))
struct MemoryBenchmarks {
    func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    @Test func guestMemoryThroughputAgainstMemcpy() throws {
        let size = 64 << 20
        let mem = try FlatGuestMemory(size: UInt64(size))
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 64)
        defer { buffer.deallocate() }
        let block = try #require(mem.slots.first?.block)
        let host = try #require(buffer.baseAddress)
        memset(block.hostBase, 1, size)  // fault the pages in before timing either side
        let clock = ContinuousClock()
        let rounds = 4
        let viaGuest = try clock.measure {
            for _ in 0..<rounds {
                var a: UInt64 = 0
                while a < UInt64(size) {
                    try mem.read(into: buffer, at: a)
                    try mem.write(UnsafeRawBufferPointer(buffer), at: a)
                    a += UInt64(buffer.count)
                }
            }
        }
        let viaMemcpy = clock.measure {
            for _ in 0..<rounds {
                var a = 0
                while a < size {
                    memcpy(host, block.hostBase + a, buffer.count)
                    memcpy(block.hostBase + a, host, buffer.count)
                    a += buffer.count
                }
            }
        }
        let bytes = Double(2 * rounds * size) / 1e9
        print("GuestMemory 64 KiB copies: \(bytes / seconds(viaGuest)) GB/s; memcpy: \(bytes / seconds(viaMemcpy)) GB/s")
    }

    @Test func mmioDispatchAndLookupCost() throws {
        let root = try MemoryRegion.container(name: "root", size: 0x1_0000_0000)
        let handler = ClosureMMIOHandler(read: { o, _ in o }, write: { _, _, _ in })
        try MemoryRegion.transaction {
            for i in 0..<1000 {
                try root.addSubregion(try MemoryRegion.mmio(name: "d\(i)", size: 0x100, handler: handler),
                                      at: UInt64(i) * 0x1000)
            }
        }
        let space = AddressSpace(name: "m", root: root)
        let n = 1_000_000
        var sink: UInt64 = 0
        let clock = ContinuousClock()
        let busTime = clock.measure {
            for i in 0..<n { sink &+= space.read(at: UInt64(i % 1000) * 0x1000 + 8, size: 4) }
        }
        let view = space.flatView
        let lookupTime = clock.measure {
            for i in 0..<n { sink &+= view.lookup(UInt64(i &* 7919 % 1000) * 0x1000)?.size ?? 0 }
        }
        print("MMIO bus read: \(seconds(busTime) / Double(n) * 1e9) ns/access; "
              + "flat-view lookup (1,000 regions): \(seconds(lookupTime) / Double(n) * 1e9) ns (\(sink & 1))")
    }
}
