import Testing
@testable import NinePServer

/// SplitMix64: a tiny deterministic generator so failures reproduce exactly.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Seeded mutation")
struct MutationTests {
    /// Applies one to three random mutations; half the time the size field is then fixed
    /// up so the body parser (not just the framing check) sees the damage.
    static func mutate(_ frame: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = frame
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            switch Int.random(in: 0..<6, using: &rng) {
            case 0 where !bytes.isEmpty:
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            case 1 where !bytes.isEmpty:
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
            case 2:
                bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &rng)))
            case 3:
                bytes += (0..<Int.random(in: 1...8, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            case 4 where bytes.count > 7:
                // Smash a likely length/count field with an extreme value.
                let at = Int.random(in: 7..<bytes.count, using: &rng)
                let extreme = ([0xFF, 0x00, 0x7F, 0x80, 0x10] as [UInt8])[Int.random(in: 0..<5, using: &rng)]
                for i in at..<min(at + 2, bytes.count) { bytes[i] = extreme }
            default:
                if bytes.count > 7 { bytes.remove(at: Int.random(in: 7..<bytes.count, using: &rng)) }
            }
        }
        if Bool.random(using: &rng), bytes.count >= 4 {
            let size = UInt32(bytes.count)
            for i in 0..<4 { bytes[i] = UInt8(truncatingIfNeeded: size >> (8 * i)) }
        }
        return bytes
    }

    @Test func requestsNeverCrashAndReencodeExactly() throws {
        var rng = SplitMix64(state: 0x9_2000_4C)
        let frames = try Fixtures.requests.map { try NineP.encodeRequest(tag: 0x4242, $0) }
        var decodedCount = 0
        for round in 0..<4000 {
            let original = frames[round % frames.count]
            let mutated = Self.mutate(original, &rng)
            do {
                let (tag, message) = try NineP.decodeRequest(mutated, msize: 65536)
                decodedCount += 1
                #expect(try NineP.encodeRequest(tag: tag, message) == mutated, "round \(round)")
            } catch {
                // Any typed error is fine; make sure its description does not crash either.
                _ = error.description
            }
        }
        // The fix-up of the size field means a fair share must still decode.
        #expect(decodedCount > 100)
    }

    @Test func repliesNeverCrashAndReencodeExactly() throws {
        var rng = SplitMix64(state: 0xBAD_5EED)
        let frames = try Fixtures.replies.map { try NineP.encodeReply(tag: 7, $0) }
        var decodedCount = 0
        for round in 0..<4000 {
            let mutated = Self.mutate(frames[round % frames.count], &rng)
            do {
                let (tag, message) = try NineP.decodeReply(mutated, msize: 65536)
                decodedCount += 1
                #expect(try NineP.encodeReply(tag: tag, message) == mutated, "round \(round)")
                if case let .readdir(data) = message { _ = try? DirectoryEntry.unpack(data) }
            } catch {
                _ = error.description
            }
        }
        #expect(decodedCount > 100)
    }

    @Test func randomGarbageNeverCrashesTheSplitter() {
        var rng = SplitMix64(state: 42)
        for _ in 0..<2000 {
            var splitter = FrameSplitter(msize: 8192)
            let garbage = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            splitter.append(garbage)
            do {
                while let frame = try splitter.nextFrame() {
                    #expect(frame.count >= 7 && frame.count <= 8192)
                    _ = try? NineP.decodeRequest(frame, msize: 8192)
                }
            } catch {
                _ = error.description
            }
        }
    }
}
