import EmuCore

/// The PC's 16 ISA interrupt lines, each one fan-out to the interrupt controllers that see it.
///
/// Devices are given ``line(_:)``; the controllers each line reaches are chosen in one place,
/// ``init(pic:)``: the i8259 pair's input of the same number.
public final class ISAInterruptRouting: Sendable {
    /// The number of ISA IRQs.
    public static let count = 16

    private let lines: [IRQLine]

    /// Routes every ISA IRQ to `pic`'s input of the same number (input 2, the cascade, is
    /// connected to nothing inside the PIC).
    public init(pic: ProgrammableInterruptController) {
        lines = (0..<Self.count).map { irq in
            IRQLine.fanOut([pic.input(irq)], name: "isa.irq\(irq)")
        }
    }

    /// The line of ISA IRQ `irq`, the same line on every call; for a number outside 0–15, a new
    /// line connected to nothing.
    public func line(_ irq: Int) -> IRQLine {
        guard lines.indices.contains(irq) else { return IRQLine(unconnected: "isa.irq\(irq)") }
        return lines[irq]
    }
}
