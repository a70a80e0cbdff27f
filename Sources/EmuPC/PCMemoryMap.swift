/// The PC's fixed addresses and interrupt routing: the one place the interrupt controllers, the
/// PCI host bridge, the ACPI tables and the boot loader's e820 map take them from.
///
/// Guest-physical layout below 4 GiB (RAM ends at ``PCMachineConfiguration/lowMemoryLimit``):
///
/// | range                       | what                                              |
/// |-----------------------------|---------------------------------------------------|
/// | 0xC000_0000 – 0xDFFF_FFFF   | PCI 32-bit MMIO window (BARs)                     |
/// | 0xE000_0000 – 0xEFFF_FFFF   | PCI Express ECAM, buses 0–255 (reserve in e820)   |
/// | 0xFEC0_0000 – 0xFEC0_0FFF   | IOAPIC (GSI 0–23)                                 |
/// | 0xFEE0_0000 – 0xFEE0_0FFF   | local APIC (and the MSI address range)            |
/// | top of 4 GiB                | firmware ROM                                      |
///
/// Above RAM: the PCI 64-bit MMIO window, see ``pciMMIO64Window(memorySize:)``.
/// I/O ports: the PCI I/O window is 0x1000–0xFFFF; 0xCF8–0xCFF is configuration mechanism #1.
public enum PCMemoryMap {
    // MARK: Interrupt controllers

    /// The local APIC's default base (IA32_APIC_BASE after reset) and the MSI address range.
    public static let localAPICBase: UInt64 = 0xFEE0_0000
    /// Bytes of the local APIC's register page.
    public static let localAPICSize: UInt64 = 0x1000
    /// The IOAPIC's registers.
    public static let ioAPICBase: UInt64 = 0xFEC0_0000
    /// Bytes of the IOAPIC's register page.
    public static let ioAPICSize: UInt64 = 0x1000
    /// The IOAPIC's APIC ID (MADT and its ID register).
    public static let ioAPICID: UInt8 = 0
    /// The first global system interrupt of the IOAPIC's pin 0.
    public static let ioAPICGSIBase: UInt32 = 0
    /// IOAPIC pins (GSIs 0–23).
    public static let ioAPICPinCount = 24
    /// The GSI the PIT's ISA IRQ 0 reaches (MADT interrupt source override IRQ 0 → GSI 2).
    public static let pitGSI: UInt32 = 2
    /// The ACPI SCI: GSI 9, level-triggered, active high (MADT interrupt source override and
    /// FADT SCI_INT).
    public static let sciGSI: UInt32 = 9
    /// The GSI of ISA IRQ `irq` (0–15): identity except IRQ 0 → GSI 2. IRQ 2 (the PIC cascade)
    /// has no GSI of its own.
    public static func gsi(forISAIRQ irq: Int) -> UInt32? {
        guard (0...15).contains(irq), irq != 2 else { return nil }
        return irq == 0 ? pitGSI : UInt32(irq)
    }

    // MARK: PCI

    /// ECAM (PCI Express enhanced configuration access): 1 MiB per bus.
    public static let ecamBase: UInt64 = 0xE000_0000
    /// ECAM buses `ecamBusRange` (MCFG's start and end bus numbers).
    public static let ecamBusRange: ClosedRange<UInt8> = 0...255
    /// Bytes of the ECAM window (must be reserved in e820, or Linux ignores MCFG).
    public static let ecamSize: UInt64 = UInt64(ecamBusRange.count) << 20
    /// The 32-bit PCI MMIO window, right above low RAM and below ECAM (the DSDT's `_CRS`).
    public static let pciMMIO32Window: Range<UInt64> = 0xC000_0000..<0xE000_0000
    /// The PCI I/O port window (the DSDT's `_CRS`); legacy ports stay below it.
    public static let pciIOWindow: Range<UInt64> = 0x1000..<0x1_0000
    /// Bytes of the 64-bit PCI MMIO window.
    public static let pciMMIO64WindowSize: UInt64 = 32 << 30

    /// The 64-bit PCI MMIO window for a machine with `memorySize` bytes of RAM: 32 GiB from the
    /// first 1 GiB boundary at or above the end of RAM (RAM above
    /// ``PCMachineConfiguration/lowMemoryLimit`` is remapped above 4 GiB). The CPU must report
    /// enough physical address bits (CPUID 0x8000_0008) to reach its end.
    public static func pciMMIO64Window(memorySize: UInt64) -> Range<UInt64> {
        let low = PCMachineConfiguration.lowMemoryLimit
        let highRAM = memorySize > low ? memorySize - low : 0
        let ramEnd = (UInt64(1) << 32) + highRAM
        let gib: UInt64 = 1 << 30
        let start = (ramEnd + gib - 1) & ~(gib - 1)
        return start..<(start + pciMMIO64WindowSize)
    }

    /// Configuration mechanism #1: the address register at 0xCF8, data at 0xCFC–0xCFF.
    public static let pciConfigurationPorts: UInt64 = 0xCF8
    /// The reset control register (a byte at 0xCF9, inside the configuration ports' dword):
    /// a write with bit 2 set resets the machine; usable as the FADT's reset register.
    public static let resetControlPort: UInt64 = 0xCF9
}
