import EmuCore
import EmuVirtio
import EmuVirtioTesting
import Testing

/// Seeded random rings: garbage descriptor tables, indirect tables and indices. Whatever the
/// driver writes, `pop` returns, ends the queue with an error, or finds nothing, within a bounded
/// number of calls; no trap, no hang, and every buffer access stays in RAM (GuestMemory checks).
@Suite("Random rings")
struct ChainFuzzTests {
    /// A small deterministic generator (SplitMix64), so a failure names its seed.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Addresses biased to interesting places: inside RAM, at its end, past it, near 2^64.
    static func address(_ rng: inout SplitMix) -> UInt64 {
        switch rng.next() % 5 {
        case 0: return 0x40000 + rng.next() % 0x1000
        case 1: return (1 << 20) - rng.next() % 64
        case 2: return UInt64.max - rng.next() % 64
        case 3: return 0x40000 + (rng.next() % 64) * 16
        default: return rng.next()
        }
    }

    static func fill(_ memory: FlatGuestMemory, at address: UInt64, count: Int, rng: inout SplitMix,
                     flagsMask: UInt16, indexLimit: UInt16) throws {
        var bytes: [(UInt64, UInt32, UInt16, UInt16)] = []
        for _ in 0..<count {
            let length = rng.next() % 4 == 0 ? UInt32(truncatingIfNeeded: rng.next()) : UInt32(rng.next() % 256) * 16
            bytes.append((Self.address(&rng), length, UInt16(truncatingIfNeeded: rng.next()) & flagsMask,
                          UInt16(rng.next() % UInt64(indexLimit))))
        }
        try memory.write(descriptorBytes(bytes), at: address)
    }

    @Test(arguments: bothFormats)
    func randomRingsNeverTrapOrHang(format: VirtqueueFormat) throws {
        for seed in UInt64(1)...300 {
            var rng = SplitMix(state: seed)
            let size: UInt16 = [4, 8, 16][Int(seed % 3)]
            let f = try QueueFixture(format, size: size, eventIndex: seed % 2 == 0, indirect: seed % 4 != 0)
            // Indirect tables for descriptors to point at.
            for t in 0..<64 {
                try Self.fill(f.memory, at: 0x40000 + UInt64(t) * 16, count: 1, rng: &rng, flagsMask: 0x8087, indexLimit: 20)
            }
            let mask: UInt16 = format == .split ? 0x0007 : 0x8087
            try Self.fill(f.memory, at: QueueFixture.ringAddress, count: Int(size), rng: &rng, flagsMask: mask, indexLimit: size + 2)
            if format == .split {
                let d = try f.split
                for slot in 0..<UInt64(size) {
                    try f.memory.store(UInt16(rng.next() % UInt64(size + 2)), at: d.configuration.driverArea + 4 + 2 * slot)
                }
                try d.setAvailIndex(UInt16(truncatingIfNeeded: rng.next() % UInt64(2 * size)))
            }
            var calls = 0
            while calls < Int(size) + 2 {
                calls += 1
                let element: VirtqueueElement?
                do { element = try f.queue.pop() } catch { break }
                guard let element else { break }
                // Touch every buffer; memory errors are fine, traps are not.
                _ = try? element.readBytes(count: Int(min(element.readableLength, 4096)), from: f.memory)
                _ = try? element.write([UInt8](repeating: 0xAA, count: Int(min(element.writableLength, 4096))), to: f.memory)
                try f.queue.push(element, writtenLength: UInt32(min(element.writableLength, 16)))
                _ = f.queue.shouldInterrupt()
            }
            #expect(calls <= Int(size) + 2, "seed \(seed)")
            #expect(f.queue.inFlight == 0, "seed \(seed)")
        }
    }
}
