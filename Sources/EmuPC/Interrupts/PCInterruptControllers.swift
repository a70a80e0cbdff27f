import EmuCore

/// The PC's interrupt controllers wired as the PC wires them: one local APIC (the BSP, APIC ID
/// 0) and one IOAPIC on an ``APICBus``, and an ``MSIRouter`` for PCI functions.
///
/// What the machine still connects (the 8259 pair and the PIT are built in `Chipset`):
/// ```swift
/// let irq = PCInterruptControllers(loop: loop, timeBase: tsc)
/// try irq.map(in: system)
/// let pic = ProgrammableInterruptController(interruptOutput: irq.picOutput)  // INT → LINT0
/// irq.localAPIC.connectExternalInterruptController { pic.acknowledge() }
/// let irq0 = irq.isaIRQ(0, picInput: pic.input(0))  // PIT: PIC IRQ 0 and IOAPIC pin 2
/// irq.localAPIC.setNotifier { vcpu.kick() }       // wake the CPU from HLT / leave translated code
/// let sci = irq.ioAPICInput(gsi: PCMemoryMap.sciGSI) // level, active high (MADT override)
/// virtio: deliverMSI: { irq.msi.deliver(address: $0, data: $1) }
/// ```
public final class PCInterruptControllers: Sendable {
    /// The bus between them.
    public let bus: APICBus
    /// The CPU's local APIC.
    public let localAPIC: LocalAPIC
    /// The IOAPIC (GSI 0–23).
    public let ioAPIC: IOAPIC
    /// MSI delivery for PCI functions.
    public let msi: MSIRouter
    /// The IOAPIC's input lines, by pin.
    private let pins: [IRQLine]
    /// LINT0's line: the 8259 pair's INT output goes here.
    public let picOutput: IRQLine

    /// Builds the controllers; the local APIC's timer runs on `loop` in `timeBase`'s clock.
    public init(loop: EventLoop, timeBase: TimestampCounterBase) {
        let bus = APICBus()
        let localAPIC = LocalAPIC(name: "lapic0", apicID: 0, isBootstrapProcessor: true, bus: bus, loop: loop,
                                  timeBase: timeBase)
        let ioAPIC = IOAPIC(bus: bus)
        self.bus = bus
        self.localAPIC = localAPIC
        self.ioAPIC = ioAPIC
        msi = MSIRouter(bus: bus)
        pins = (0..<IOAPIC.pinCount).map { ioAPIC.makeInputLine($0) }
        picOutput = localAPIC.makeLINT0Line()
    }

    /// Maps the local APIC (at IA32_APIC_BASE, above RAM) and the IOAPIC into `memory`.
    /// - Throws: ``MemoryRegionError`` if they are already mapped.
    public func map(in memory: MemoryRegion) throws {
        try localAPIC.mapRegisters(in: memory, priority: 1)
        try memory.addSubregion(try .mmio(name: "ioapic", size: PCMemoryMap.ioAPICSize, handler: ioAPIC),
                                at: PCMemoryMap.ioAPICBase, priority: 1)
    }

    /// The line into the IOAPIC for `gsi`, if the IOAPIC has that pin.
    public func ioAPICInput(gsi: UInt32) -> IRQLine? {
        guard gsi >= PCMemoryMap.ioAPICGSIBase else { return nil }
        let pin = Int(gsi - PCMemoryMap.ioAPICGSIBase)
        return pins.indices.contains(pin) ? pins[pin] : nil
    }

    /// The line an ISA device drives for IRQ `irq`: every change goes to `picInput` (the 8259
    /// pair's input `irq`) and to the IOAPIC pin of the IRQ's GSI (IRQ 0 → GSI 2, see
    /// ``PCMemoryMap/gsi(forISAIRQ:)``), as on a PC where the OS picks which controller to use.
    public func isaIRQ(_ irq: Int, picInput: IRQLine) -> IRQLine {
        let ioapic = PCMemoryMap.gsi(forISAIRQ: irq).flatMap { ioAPICInput(gsi: $0) }
        return IRQLine.fanOut([picInput] + (ioapic.map { [$0] } ?? []), name: "isa.irq\(irq)")
    }
}
