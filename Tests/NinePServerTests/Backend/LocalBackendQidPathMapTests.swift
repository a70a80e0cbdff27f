import Testing
@testable import NinePServer

/// The dev/ino → qid path mapping; a real submount needs root to set up and is not tested.
@Suite("LocalBackend: qid paths")
struct LocalBackendQidPathMapTests {
    @Test("the same inode on two devices gets two paths; the same file always the same path")
    func uniqueAcrossDevices() throws {
        let map = QidPathMap()
        let a = try map.path(device: 0x801, inode: 42)
        let b = try map.path(device: 0x802, inode: 42)
        #expect(a != b)
        #expect(try map.path(device: 0x801, inode: 42) == a)
        #expect(a == 42)
        #expect(b == 1 << 48 | 42)
        #expect(try map.path(device: 0x801, inode: 43) == 43)
    }

    @Test("inodes wider than 48 bits do not alias; exhaustion is EXDEV, not a collision")
    func wideInodesAndExhaustion() throws {
        let map = QidPathMap(capacity: 3)
        let low = try map.path(device: 1, inode: 7)
        let high = try map.path(device: 1, inode: 1 << 48 | 7)
        #expect(low != high)
        _ = try map.path(device: 2, inode: 7)
        do {
            _ = try map.path(device: 3, inode: 7)
            Issue.record("expected EXDEV")
        } catch {
            #expect(error == NinePError.crossDevice)
        }
        #expect(try map.path(device: 1, inode: 1 << 48 | 7) == high)
    }
}
