import Synchronization
import EmuCore
@testable import EmuPC

/// Counts calls from any thread.
final class CallCounter: Sendable {
    private let count = Atomic<Int>(0)
    func increment() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

/// Records the vectors an EOI listener heard.
final class EOIRecorder: APICEOIListener {
    private let vectors = Mutex<[UInt8]>([])
    func endOfInterrupt(vector: UInt8) { vectors.withLock { $0.append(vector) } }
    var all: [UInt8] { vectors.withLock { $0 } }
}

/// One local APIC on a bus, its registers mapped in a memory address space, a paused virtual
/// clock and a loop for its timer: everything driven by hand.
struct APICRig {
    static let tscFrequency: UInt64 = 2_500_000_000
    let clock: VirtualClock
    let loop = EventLoop(name: "apic-test")
    let bus = APICBus()
    let lapic: LocalAPIC
    let system: MemoryRegion
    let memory: AddressSpace
    let notifications = CallCounter()
    let timeBase: TimestampCounterBase

    init(running: Bool = false) throws {
        clock = VirtualClock(start: 1_000_000, running: running)
        timeBase = TimestampCounterBase(clock: clock, frequency: Self.tscFrequency)
        lapic = LocalAPIC(bus: bus, loop: loop, timeBase: timeBase)
        system = try MemoryRegion.container(name: "system", size: 1 << 48)
        try lapic.mapRegisters(in: system)
        memory = AddressSpace(name: "memory", root: system)
        let counter = notifications
        lapic.setNotifier { counter.increment() }
    }

    func read(_ register: UInt64) -> UInt32 {
        UInt32(truncatingIfNeeded: memory.read(at: PCMemoryMap.localAPICBase + register, size: 4))
    }

    func write(_ register: UInt64, _ value: UInt32) {
        memory.write(at: PCMemoryMap.localAPICBase + register, size: 4, value: UInt64(value))
    }

    /// Software-enables the APIC with spurious vector 0xFF and logical flat ID `logicalID`.
    func enable(logicalID: UInt8 = 0x01) {
        write(0xF0, 0x1FF)
        write(0xE0, 0xFFFF_FFFF)
        write(0xD0, UInt32(logicalID) << 24)
    }

    /// Whether `vector` is set in the 256-bit register bank at `base` (0x100 ISR, 0x180 TMR, 0x200 IRR).
    func bit(_ base: UInt64, _ vector: UInt8) -> Bool {
        read(base + UInt64(vector / 32) * 0x10) & (1 << UInt32(vector % 32)) != 0
    }

    func requested(_ vector: UInt8) -> Bool { bit(0x200, vector) }
    func inService(_ vector: UInt8) -> Bool { bit(0x100, vector) }

    /// Advances the clock and runs the timers that became due.
    func advance(by nanoseconds: UInt64) {
        clock.step(by: nanoseconds)
        for _ in 0..<100 where !loop.iterate() { break }
    }

    /// Acknowledges and retires every deliverable interrupt; returns the vectors in order.
    func drain() -> [UInt8] {
        var taken: [UInt8] = []
        while lapic.pendingEvents.contains(.interrupt), taken.count < 300 {
            taken.append(lapic.acknowledgeInterrupt())
            write(0xB0, 0)
        }
        return taken
    }

    func fixed(_ vector: UInt8, destination: UInt8 = 0, mode: APICDestinationMode = .physical,
               trigger: APICTriggerMode = .edge) -> APICMessage {
        APICMessage(destination: destination, destinationMode: mode, deliveryMode: .fixed, vector: vector, trigger: trigger)
    }
}
