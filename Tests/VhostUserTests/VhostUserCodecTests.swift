import Testing
@testable import VhostUser

@Suite("vhost-user codec")
struct VhostUserCodecTests {
    @Test func requestCodesCoverOneToFortyThree() {
        #expect(VhostUserRequest.allCases.map(\.rawValue) == Array(1...43))
        #expect(VhostUserRequest(rawValue: 0) == nil)
        #expect(VhostUserRequest(rawValue: 44) == nil)
        #expect(VhostUserRequest.setVringEnable.rawValue == 18)
        #expect(VhostUserRequest.getConfig.description == "VHOST_USER_GET_CONFIG")
        #expect(VhostUserRequest.getVringBase.hasReply && !VhostUserRequest.setVringEnable.hasReply)
    }

    @Test func protocolFeatureBits() {
        #expect(VhostUserProtocolFeatures.replyAck.rawValue == 1 << 3)
        #expect(VhostUserProtocolFeatures.config.rawValue == 1 << 9)
        #expect(VhostUserProtocolFeatures.configureMemSlots.rawValue == 1 << 15)
        #expect(VhostUserProtocolFeatures.deviceState.rawValue == 1 << 19)
        #expect(VhostUserProtocolFeatures.known.rawValue == 0xFFFFF)
        #expect(VhostUserProtocolFeatures([.replyAck, .config]).description == "REPLY_ACK,CONFIG")
    }

    @Test func headerIsLittleEndianAndChecked() throws {
        let m = VhostUserMessage(.setVringNum, flags: .needReply, payload: VhostUserVringState(index: 1, number: 256).encoded())
        let bytes = m.encoded()
        #expect(Array(bytes.prefix(12)) == [8, 0, 0, 0, 9, 0, 0, 0, 8, 0, 0, 0])
        #expect(Array(bytes.suffix(8)) == [1, 0, 0, 0, 0, 1, 0, 0])
        let h = try VhostUserMessage.decodeHeader(Array(bytes.prefix(12)))
        #expect(h.request == 8 && h.flags == [.version1, .needReply] && h.size == 8)
        #expect(throws: VhostUserError.payloadTooLarge(4097)) {
            try VhostUserMessage.decodeHeader([1, 0, 0, 0, 5, 0, 0, 0, 0x01, 0x10, 0, 0])
        }
        #expect(throws: VhostUserError.self) { try VhostUserMessage.decodeHeader([1, 0, 0]) }
    }

    @Test func payloadsRoundTripAndRefuseWrongSizes() throws {
        let a = VhostUserVringAddress(index: 2, flags: 1, descriptor: 0x1000, used: 0x3000, available: 0x2000, log: 7)
        #expect(try VhostUserVringAddress(decoding: a.encoded()) == a)
        #expect(a.encoded().count == 40)
        #expect(throws: VhostUserError.self) { try VhostUserVringAddress(decoding: Array(a.encoded().dropLast())) }
        let s = VhostUserVringState(index: 3, number: 0x8000)
        #expect(try VhostUserVringState(decoding: s.encoded()) == s)
        #expect(throws: VhostUserError.self) { try VhostUserVringState(decoding: s.encoded() + [0]) }
        #expect(try VhostUserU64.decode(VhostUserU64.encode(0xDEAD_BEEF_0000_0001)) == 0xDEAD_BEEF_0000_0001)
        #expect(throws: VhostUserError.self) { try VhostUserU64.decode([1, 2, 3, 4]) }

        let regions = (0..<3).map { VhostUserMemoryRegionDescriptor(guestAddress: UInt64($0) << 30, size: 4096, userAddress: 0x7f00_0000 + UInt64($0), mmapOffset: 0) }
        let table = VhostUserMemoryTable(regions: regions)
        #expect(table.encoded().count == 8 + 3 * 32)
        #expect(try VhostUserMemoryTable(decoding: table.encoded()) == table)
        // QEMU-style full-size table with trailing zeros is accepted.
        #expect(try VhostUserMemoryTable(decoding: table.encoded() + [UInt8](repeating: 0, count: 5 * 32)) == table)
        var hostile = table.encoded(); hostile[0] = 9
        #expect(throws: VhostUserError.self) { try VhostUserMemoryTable(decoding: hostile) }
        hostile[0] = 4  // claims 4 regions, holds 3
        #expect(throws: VhostUserError.self) { try VhostUserMemoryTable(decoding: hostile) }
        #expect(try VhostUserSingleRegion.decode(VhostUserSingleRegion.encode(regions[1])) == regions[1])

        let c = VhostUserConfigPayload(offset: 4, bytes: [1, 2, 3])
        #expect(try VhostUserConfigPayload(decoding: c.encoded()) == c)
        var badConfig = c.encoded(); badConfig[4] = 4  // says 4 bytes, carries 3
        #expect(throws: VhostUserError.self) { try VhostUserConfigPayload(decoding: badConfig) }
        var hugeConfig = c.encoded(); hugeConfig[5] = 1  // 259 bytes
        #expect(throws: VhostUserError.self) { try VhostUserConfigPayload(decoding: hugeConfig) }

        #expect(VhostUserVringFileWord(index: 5, noDescriptor: true).rawValue == 0x105)
        #expect(try VhostUserVringFileWord(rawValue: 0x102) == VhostUserVringFileWord(index: 2, noDescriptor: true))
        #expect(throws: VhostUserError.self) { try VhostUserVringFileWord(rawValue: 0x200) }
    }
}

/// Random bytes into every decoder: each either refuses them with a `VhostUserError` or yields a
/// value that re-encodes and decodes to itself. Seeded, so a failure reproduces.
@Suite("vhost-user codec against random bytes")
struct VhostUserCodecRandomTests {
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

    @Test func decodersRefuseOrRoundTrip() throws {
        var rng = SplitMix(state: 0x5EED_0002)
        var accepted = [String: Int]()
        for round in 0..<20_000 {
            // Lengths cluster around the real sizes so that acceptance is actually exercised.
            let sizes = [0, 4, 8, 12, 24, 40, 8 + 32 * Int(rng.next() % 9), 12 + Int(rng.next() % 260), Int(rng.next() % 400)]
            let n = sizes[Int(rng.next() % UInt64(sizes.count))]
            var bytes = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            if n >= 4, round % 2 == 0 { bytes[0] = UInt8(rng.next() % 10); bytes[1] = 0; bytes[2] = 0; bytes[3] = 0 }  // plausible counts
            if n >= 8, round % 3 == 0 { bytes[4] = UInt8(rng.next() % 16); bytes[5...7] = [0, 0, 0] }
            if n >= 12, round % 5 == 0 { bytes[9] &= 0x1F; bytes[10] = 0; bytes[11] = 0 }  // sizes around the limit
            if let v = try? VhostUserVringState(decoding: bytes) {
                #expect(v.encoded() == bytes); accepted["state", default: 0] += 1
            }
            if let v = try? VhostUserVringAddress(decoding: bytes) {
                #expect(v.encoded() == bytes); accepted["addr", default: 0] += 1
            }
            if let v = try? VhostUserMemoryTable(decoding: bytes) {
                #expect(v.regions.count <= VhostUserMemoryTable.maximumRegions)
                #expect(try VhostUserMemoryTable(decoding: v.encoded()) == v); accepted["table", default: 0] += 1
            }
            if let v = try? VhostUserConfigPayload(decoding: bytes) {
                #expect(v.bytes.count <= VhostUserConfigPayload.maximumSize)
                #expect(v.encoded() == bytes); accepted["config", default: 0] += 1
            }
            if let v = try? VhostUserSingleRegion.decode(bytes) {
                #expect(try VhostUserSingleRegion.decode(VhostUserSingleRegion.encode(v)) == v); accepted["region", default: 0] += 1
            }
            if let v = try? VhostUserInflightDescription(decoding: bytes) {
                // The 4 padding bytes are ignored on input and zero on output.
                #expect(Array(v.encoded()[0..<20]) == Array(bytes[0..<20]))
                #expect(try VhostUserInflightDescription(decoding: v.encoded()) == v); accepted["inflight", default: 0] += 1
            }
            if let v = try? VhostUserU64.decode(bytes) {
                #expect(VhostUserU64.encode(v) == bytes); accepted["u64", default: 0] += 1
                if let w = try? VhostUserVringFileWord(rawValue: v) { #expect(w.rawValue == v) }
            }
            if n >= 12, let h = try? VhostUserMessage.decodeHeader(Array(bytes.prefix(12))) {
                #expect(h.size <= VhostUserMessage.maximumPayloadSize); accepted["header", default: 0] += 1
            }
        }
        // Every decoder accepted something, so the round trips above were really checked.
        for kind in ["state", "addr", "table", "config", "region", "inflight", "u64", "header"] {
            #expect(accepted[kind, default: 0] > 0, "\(kind) never accepted random input")
        }
    }
}
