import EmuPC
import Testing

/// The ACPI tables the machine builds describe the PCI windows and ECAM its PCI host decodes
/// (`PCMemoryMap`), and those stay clear of RAM for every memory size.
@Suite struct PCMachineACPIConfigurationTests {
    @Test(arguments: [UInt64(256 << 20), 3 << 30, 4 << 30, 8 << 30])
    func theTablesDescribeThePCIHostsWindowsClearOfRAM(memorySize: UInt64) throws {
        var configuration = PCMachineConfiguration()
        configuration.memorySize = memorySize
        let acpi = configuration.acpiConfiguration
        try acpi.validate()
        #expect(acpi.ecamBase == PCMemoryMap.ecamBase)
        #expect(acpi.ecamBusCount == PCMemoryMap.ecamBusRange.count)
        #expect(acpi.pciMMIOWindow32.lowerBound == PCMemoryMap.pciMMIO32Window.lowerBound)
        #expect(acpi.pciMMIOWindow32.upperBound == PCMemoryMap.pciMMIO32Window.upperBound - 1)
        let window64 = PCMemoryMap.pciMMIO64Window(memorySize: memorySize)
        #expect(acpi.pciMMIOWindow64?.lowerBound == window64.lowerBound)
        // The e820 map a Linux guest gets reserves the ECAM and accepts it as clear of RAM.
        try configuration.linuxMemoryMap.validate()
        #expect(configuration.linuxMemoryMap.reserved.contains { $0.lowerBound == PCMemoryMap.ecamBase })
    }
}
