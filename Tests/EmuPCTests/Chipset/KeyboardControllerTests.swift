import Testing
import EmuCore
@testable import EmuPC

@Suite("i8042 without keyboard or mouse")
struct KeyboardControllerTests {
    let irq1 = LineProbe()
    let resets = Counter()
    let controller: KeyboardController
    let bus: PortBus

    init() throws {
        let resets = self.resets
        controller = KeyboardController(keyboardIRQ: irq1.line) { resets.increment() }
        bus = try PortBus([controller])
    }

    /// i8042_command as Linux sends it: wait for IBF clear, command, parameters, results.
    func command(_ command: UInt8, _ parameters: [UInt8] = [], results: Int = 0) -> [UInt8]? {
        #expect(bus.inb(0x64) & 0x02 == 0, "input buffer never busy")
        bus.outb(0x64, command)
        for parameter in parameters { bus.outb(0x60, parameter) }
        var out: [UInt8] = []
        for _ in 0..<results {
            guard bus.inb(0x64) & 0x01 != 0 else { return nil }
            out.append(bus.inb(0x60))
        }
        return out
    }

    @Test func selfTestAndInterfaceTests() {
        #expect(bus.inb(0x64) & 0x01 == 0, "nothing to flush at start")
        #expect(command(0xAA, results: 1) == [0x55])
        #expect(bus.inb(0x64) & 0x04 != 0, "system flag after self-test")
        #expect(command(0xAB, results: 1) == [0x00], "keyboard interface passes")
        #expect(command(0xA9, results: 1) == [0x01], "aux interface: clock stuck low")
    }

    @Test func commandByteReadsBackStableAndIsWritable() {
        let first = command(0x20, results: 1)
        let second = command(0x20, results: 1)
        #expect(first != nil && first == second)
        _ = command(0x60, [0x65])
        #expect(command(0x20, results: 1) == [0x65])
        _ = command(0xAD)
        #expect(command(0x20, results: 1) == [0x75], "0xAD sets the keyboard-disable bit")
        _ = command(0xA8)
        _ = command(0xA7)
        #expect(command(0x20, results: 1) == [0x75 | 0x20])
    }

    @Test func auxLoopTestAnswersAsKeyboardDataSoLinuxFindsNoMouse() {
        bus.outb(0x64, 0xD3)
        bus.outb(0x60, 0x5A)
        let status = bus.inb(0x64)
        #expect(status & 0x01 != 0, "answered at once: no half-second timeout")
        #expect(status & 0x20 == 0, "not auxiliary data: Linux's loop test fails")
        #expect(bus.inb(0x60) == 0x5A)
    }

    @Test func bytesForTheMissingKeyboardTimeOutAndRaiseIRQ1WhenEnabled() {
        _ = command(0x60, [0x01])  // keyboard interrupt on
        bus.outb(0x60, 0xF2)       // atkbd's GET ID
        #expect(bus.inb(0x64) & 0x41 == 0x41, "output full with the timeout bit")
        #expect(irq1.level)
        #expect(bus.inb(0x60) == 0xFF)
        #expect(!irq1.level)
        #expect(bus.inb(0x64) & 0x41 == 0)
        _ = command(0x60, [0x00])
        bus.outb(0x60, 0xED)
        #expect(!irq1.level, "no interrupt with IRQ 1 disabled")
    }

    @Test func resetLinePulsesOn0xFEAndOutputPortBit0() {
        _ = command(0xFE)
        #expect(resets.count == 1)
        _ = command(0xFF)
        #expect(resets.count == 1, "0xFF pulses no line")
        _ = command(0xD1, [0x02])
        #expect(resets.count == 2, "output port bit 0 clear resets")
        _ = command(0xD1, [0x03])
        #expect(resets.count == 2)
        #expect(controller.a20Enabled)
        #expect(command(0xD0, results: 1) == [0x03])
    }

    @Test func outputBufferIsBounded() {
        for _ in 0..<1_000 { bus.outb(0x64, 0x20) }
        var count = 0
        while bus.inb(0x64) & 0x01 != 0 && count < 10_000 {
            _ = bus.inb(0x60)
            count += 1
        }
        #expect(count == KeyboardController.outputLimit)
    }
}

@Suite("Ports 0x80 and 0x92")
struct SystemPortTests {
    @Test func postCodesAreRememberedAndReadBack() throws {
        let post = POSTCodePort()
        let bus = try PortBus([post])
        bus.outb(0x80, 0x12)
        bus.outb(0x80, 0x34)
        #expect(post.lastValue == 0x34)
        #expect(post.writeCount == 2)
        #expect(bus.inb(0x80) == 0x34)
        post.reset(.cold)
        #expect(post.lastValue == 0)
    }

    @Test func port92ResetsOnARisingBit0AndKeepsA20() throws {
        let resets = Counter()
        let port = SystemControlPortA { resets.increment() }
        let bus = try PortBus([port])
        #expect(bus.inb(0x92) == 0x02 && port.a20Enabled)
        bus.outb(0x92, 0x00)
        #expect(!port.a20Enabled && resets.count == 0)
        bus.outb(0x92, 0x03)
        #expect(resets.count == 1)
        bus.outb(0x92, 0x03)
        #expect(resets.count == 1, "only a 0 to 1 change resets")
        #expect(bus.inb(0x92) == 0x03)
    }

    @Test func portRangesRefuseEmptyAndOverflowingRanges() {
        #expect(PortRange(base: 0xFFFF, count: 2) == nil)
        #expect(PortRange(base: 0x10, count: 0) == nil)
        #expect(PortRange(base: 0xFFF8, count: 8)?.contains(0xFFFF) == true)
        #expect(PortRange(base: 0x40, count: 4)?.contains(0x44) == false)
    }

    @Test func wordAccessesAreSplitIntoBytes() throws {
        let pic = ProgrammableInterruptController(interruptOutput: IRQLine(unconnected: "int"))
        let bus = try PortBus([pic])
        bus.io.write(at: 0x4D0, size: 2, value: 0x0C20)  // ELCR of both chips in one OUTW
        #expect(pic.edgeLevelControl == 0x0C20)
        #expect(bus.io.read(at: 0x4D0, size: 2) == 0x0C20)
    }
}
