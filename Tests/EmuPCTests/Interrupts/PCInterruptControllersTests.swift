import Testing
import EmuCore
@testable import EmuPC

@Suite("PC interrupt wiring")
struct PCInterruptControllersTests {
    @Test func isaIRQZeroReachesThePICAndIOAPICPinTwo() throws {
        let clock = VirtualClock()
        let irq = PCInterruptControllers(loop: EventLoop(), timeBase: TimestampCounterBase(clock: clock, frequency: 1_000_000_000))
        let system = try MemoryRegion.container(name: "system", size: 1 << 48)
        try irq.map(in: system)
        let memory = AddressSpace(name: "memory", root: system)
        func ioapic(_ register: UInt32, _ value: UInt32) {
            memory.write(at: PCMemoryMap.ioAPICBase, size: 4, value: UInt64(register))
            memory.write(at: PCMemoryMap.ioAPICBase + 0x10, size: 4, value: UInt64(value))
        }
        memory.write(at: PCMemoryMap.localAPICBase + 0xF0, size: 4, value: 0x1FF)
        memory.write(at: PCMemoryMap.localAPICBase + 0xD0, size: 4, value: 0x0100_0000)
        ioapic(0x10 + 2 * 2, 0x0800 | 0x30)  // pin 2: logical, vector 0x30
        ioapic(0x11 + 2 * 2, 0x0100_0000)
        let picLevels = EOIRecorder()
        let picInput = IRQLine(name: "pic.irq0") { picLevels.endOfInterrupt(vector: $0 ? 1 : 0) }
        let pit = irq.isaIRQ(0, picInput: picInput)
        pit.pulse()
        #expect(picLevels.all == [1, 0], "the PIC saw the edge")
        #expect(irq.localAPIC.acknowledgeInterrupt() == 0x30, "and so did IOAPIC pin 2, at logical destination 1")
        #expect(irq.ioAPICInput(gsi: 24) == nil)
        #expect(PCMemoryMap.gsi(forISAIRQ: 2) == nil && PCMemoryMap.gsi(forISAIRQ: 4) == 4)
        irq.picOutput.raise()
        irq.localAPIC.connectExternalInterruptController { 0x24 }
        memory.write(at: PCMemoryMap.localAPICBase + 0xB0, size: 4, value: 0)
        #expect(irq.localAPIC.acknowledgeInterrupt() == 0x24, "the PIC's INT reaches LINT0 in ExtINT mode")
    }

    @Test func theMemoryMapAgreesWithTheMachine() {
        #expect(PCMemoryMap.pciMMIO32Window.lowerBound == PCMachineConfiguration.lowMemoryLimit)
        #expect(PCMemoryMap.pciMMIO32Window.upperBound == PCMemoryMap.ecamBase)
        #expect(PCMemoryMap.ecamBase + PCMemoryMap.ecamSize <= PCMemoryMap.ioAPICBase)
        #expect(PCMemoryMap.ecamSize == 256 << 20)
        #expect(PCMemoryMap.pciMMIO64Window(memorySize: 4 << 30) == (5 << 30)..<((5 << 30) + (32 << 30)))
        #expect(PCMemoryMap.pciMMIO64Window(memorySize: (3 << 30) + 1).lowerBound == 5 << 30, "rounded up to 1 GiB")
    }
}
