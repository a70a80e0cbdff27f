import Testing
@testable import NinePServer

@Suite("Version negotiation")
struct VersionNegotiationTests {
    func negotiate(_ msize: UInt32, _ version: String, ceiling: UInt32 = 65536) throws(NinePVersionError) -> (UInt32, String) {
        let result = try NineP.negotiateVersion(clientMsize: msize, clientVersion: version, ceiling: ceiling)
        return (result.msize, result.version)
    }

    @Test func acceptsNinePL() throws {
        #expect(try negotiate(8192, "9P2000.L") == (8192, "9P2000.L"))
        #expect(try negotiate(4096, "9P2000.L") == (4096, "9P2000.L"))
        #expect(try negotiate(65536, "9P2000.L") == (65536, "9P2000.L"))
    }

    @Test func clampsToCeiling() throws {
        #expect(try negotiate(1 << 20, "9P2000.L", ceiling: 131_072) == (131_072, "9P2000.L"))
        #expect(try negotiate(.max, "9P2000.L", ceiling: 8192) == (8192, "9P2000.L"))
        // A ceiling below the floor is raised to the floor.
        #expect(try negotiate(8192, "9P2000.L", ceiling: 1000) == (4096, "9P2000.L"))
    }

    @Test func extensionSuffixIsDropped() throws {
        #expect(try negotiate(8192, "9P2000.L.ext") == (8192, "9P2000.L"))
        #expect(try negotiate(8192, "9P2000.L.") == (8192, "9P2000.L"))
    }

    @Test("Other versions are answered 'unknown'", arguments: ["9P2000", "9P2000.u", "9P2000.l", "9P2000.Lx", "", "9P", "unknown", "9P2000.L\u{00E9}"])
    func unknownVersions(_ version: String) throws {
        #expect(try negotiate(8192, version) == (8192, "unknown"))
    }

    @Test func msizeBelowFloor() throws {
        for msize: UInt32 in [0, 7, 4095] {
            do {
                _ = try negotiate(msize, "9P2000.L")
                Issue.record("msize \(msize) accepted")
            } catch {
                #expect(error == .msizeBelowFloor(clientMsize: msize, floor: 4096))
                #expect(error.errno == 90)
            }
        }
        // An unknown version takes priority over the msize check (as in QEMU).
        #expect(try negotiate(100, "9P2000.u") == (100, "unknown"))
    }
}
