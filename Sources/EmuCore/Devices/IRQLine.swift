import Synchronization

/// An interrupt line from a device to an interrupt controller (or to several, via ``fanOut(_:)``).
///
/// The line keeps its level. A level-triggered consumer sees every change of level; an
/// edge-triggered consumer is served by ``pulse()``, which raises and lowers the line at once
/// (two calls of the sink, even if the line was already high it is lowered first).
/// Thread-safe: devices may drive a line from any thread; the sink is called on the thread
/// that changed the level, and calls for one line are serialised, in order.
public final class IRQLine: Sendable {
    /// A name for logs and debugging (e.g. `"serial0.irq"`).
    public let name: String
    private let sink: @Sendable (Bool) -> Void
    private let state = Mutex<LineState>(LineState())

    private struct LineState {
        var level = false
        var transitions: UInt64 = 0
    }

    /// Creates a line that calls `sink` with the new level on every change of level.
    public init(name: String, sink: @escaping @Sendable (_ level: Bool) -> Void) {
        self.name = name
        self.sink = sink
    }

    /// Creates a line that goes nowhere (an unconnected pin): levels are kept, nothing is called.
    public convenience init(unconnected name: String) {
        self.init(name: name) { _ in }
    }

    /// Sets the level; the sink is called only if the level changed.
    public func set(_ level: Bool) {
        // The sink runs under the line's lock so consumers see the levels in the order set.
        state.withLock { state in
            guard state.level != level else { return }
            state.level = level
            state.transitions &+= 1
            sink(level)
        }
    }

    /// Raises the line (level 1).
    public func raise() { set(true) }

    /// Lowers the line (level 0).
    public func lower() { set(false) }

    /// Sends one edge: the sink sees `true` then `false`. If the line was high it is first
    /// lowered, so the consumer always sees a rising edge.
    public func pulse() {
        state.withLock { state in
            if state.level { sink(false) }
            sink(true)
            sink(false)
            state.level = false
            state.transitions &+= 2
        }
    }

    /// The current level.
    public var level: Bool { state.withLock { $0.level } }

    /// How many level changes the line has seen (for tests and statistics).
    public var transitionCount: UInt64 { state.withLock { $0.transitions } }

    /// A line whose every change is forwarded to all `outputs` (one device pin wired to several
    /// controllers, as a PC's ISA IRQs go to both the PIC and the IOAPIC).
    public static func fanOut(_ outputs: [IRQLine], name: String = "fan-out") -> IRQLine {
        IRQLine(name: name) { level in
            for output in outputs { output.set(level) }
        }
    }
}

/// Combines several level-triggered inputs into one output that is high while any input is
/// high (a wired-OR, as shared PCI INTx lines behave).
public final class IRQOrGate: Sendable {
    /// The combined output.
    public let output: IRQLine
    private let levels: Mutex<[Bool]>

    /// Creates a gate with `inputCount` inputs driving `output`.
    public init(inputCount: Int, output: IRQLine) {
        self.output = output
        self.levels = Mutex(Array(repeating: false, count: max(0, inputCount)))
    }

    /// The input line number `index`; an index out of range gives an unconnected line.
    public func input(_ index: Int, name: String? = nil) -> IRQLine {
        IRQLine(name: name ?? "\(output.name).in\(index)") { [self] level in
            let any = levels.withLock { levels -> Bool? in
                guard levels.indices.contains(index) else { return nil }
                levels[index] = level
                return levels.contains(true)
            }
            if let any { output.set(any) }
        }
    }
}
