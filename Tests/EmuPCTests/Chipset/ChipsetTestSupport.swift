import Synchronization
import EmuCore
@testable import EmuPC

/// An I/O address space with chipset devices mapped, driven like a CPU's IN and OUT.
final class PortBus: Sendable {
    let io: AddressSpace

    init(_ devices: [any PortIODevice]) throws {
        let root = try MemoryRegion.container(name: "io", size: 0x1_0000)
        for device in devices { try device.mapPorts(into: root) }
        io = AddressSpace(name: "I/O", root: root, kind: .io)
    }

    func inb(_ port: UInt16) -> UInt8 { UInt8(truncatingIfNeeded: io.read(at: UInt64(port), size: 1)) }
    func outb(_ port: UInt16, _ value: UInt8) { io.write(at: UInt64(port), size: 1, value: UInt64(value)) }
}

/// Records every level an IRQ line is set to, and counts rising edges.
final class LineProbe: Sendable {
    private let log = LevelLog()
    let line: IRQLine

    init() {
        let log = self.log
        line = IRQLine(name: "probe") { level in log.append(level) }
    }

    var history: [Bool] { log.all }
    var risingEdges: Int {
        var previous = false
        var count = 0
        for level in log.all {
            if level && !previous { count += 1 }
            previous = level
        }
        return count
    }
    var level: Bool { line.level }
    func clear() { log.clear() }
}

final class LevelLog: Sendable {
    private let levels = Mutex<[Bool]>([])
    func append(_ level: Bool) { levels.withLock { $0.append(level) } }
    var all: [Bool] { levels.withLock { $0 } }
    func clear() { levels.withLock { $0.removeAll() } }
}

/// A thread-safe counter for closures.
final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    init() {}
    func increment() { value.add(1, ordering: .relaxed) }
    var count: Int { value.load(ordering: .relaxed) }
}

/// Takes bytes up to a room that the test sets, and records them in order.
final class BoundedSink: Sendable {
    private let state = Mutex<(bytes: [UInt8], room: Int)>(([], Int.max))
    init() {}

    var bytes: [UInt8] { state.withLock { $0.bytes } }
    func setRoom(_ room: Int) { state.withLock { $0.room = room } }
    func addRoom(_ more: Int) { state.withLock { $0.room += more } }

    /// Takes as many of `offered` as the room allows; returns how many.
    func take(_ offered: ArraySlice<UInt8>) -> Int {
        state.withLock { state in
            let taken = min(state.room, offered.count)
            state.room -= taken
            state.bytes += offered.prefix(taken)
            return taken
        }
    }
}
