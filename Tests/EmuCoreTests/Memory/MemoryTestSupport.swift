import Synchronization
@testable import EmuCore

/// Records every call a device receives.
final class RecordingDevice: MMIOHandler {
    struct Access: Equatable, Sendable {
        var write: Bool
        var offset: UInt64
        var size: Int
        var value: UInt64
    }

    let accessSizes: MMIOAccessSizes
    private let log = Mutex<[Access]>([])
    /// Register file backing reads: byte i of the device reads as `pattern(i)`.
    let pattern: @Sendable (UInt64) -> UInt8

    init(_ sizes: MMIOAccessSizes = .any, pattern: @escaping @Sendable (UInt64) -> UInt8 = { UInt8(truncatingIfNeeded: $0 &+ 0x10) }) {
        accessSizes = sizes
        self.pattern = pattern
    }

    func read(offset: UInt64, size: Int) -> UInt64 {
        log.withLock { $0.append(Access(write: false, offset: offset, size: size, value: 0)) }
        var v: UInt64 = 0
        for i in 0..<size { v |= UInt64(pattern(offset + UInt64(i))) << UInt64(8 * i) }
        return v
    }

    func write(offset: UInt64, size: Int, value: UInt64) {
        log.withLock { $0.append(Access(write: true, offset: offset, size: size, value: value)) }
    }

    var accesses: [Access] { log.withLock { $0 } }
    func reset() { log.withLock { $0 = [] } }
}

/// Little-endian value of `pattern` bytes at `offset..<offset+size`.
func expected(_ pattern: (UInt64) -> UInt8, _ offset: UInt64, _ size: Int) -> UInt64 {
    var v: UInt64 = 0
    for i in 0..<size { v |= UInt64(pattern(offset + UInt64(i))) << UInt64(8 * i) }
    return v
}
