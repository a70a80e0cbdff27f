import Testing
import Synchronization
import EmuCore
@testable import EmuPC

/// A host side that records output, takes a limited amount, and feeds input by hand.
final class FakeSerialHost: SerialHostSide {
    private let output = BoundedSink()
    private let state = Mutex<State>(State())
    struct State {
        var spaceNotices = 0
        weak var port: (any SerialPortClient)?
        var pending: [UInt8] = []
    }

    var sent: [UInt8] { output.bytes }
    var spaceNotices: Int { state.withLock { $0.spaceNotices } }
    var pendingInput: Int { state.withLock { $0.pending.count } }

    func setRoom(_ room: Int) { output.setRoom(room) }

    /// Offers `bytes` (after anything still pending); keeps what the port refuses.
    func type(_ bytes: [UInt8]) {
        let (port, all) = state.withLock { state in
            state.pending += bytes
            return (state.port, state.pending)
        }
        guard let port else { return }
        let taken = port.receiveFromHost(all[...])
        state.withLock { $0.pending.removeFirst(taken) }
    }

    func drainOutput(_ count: Int) {
        output.addRoom(count)
        state.withLock { $0.port }?.hostReadyForOutput()
    }

    func connect(_ client: any SerialPortClient) { state.withLock { $0.port = client } }

    func send(_ bytes: ArraySlice<UInt8>) -> Int { output.take(bytes) }

    func receiveSpaceAvailable() {
        state.withLock { $0.spaceNotices += 1 }
        type([])
    }

    func close() {}
}

@Suite("16550A UART")
struct SerialPortTests {
    let clock = VirtualClock()
    let loop = EventLoop()
    let irq4 = LineProbe()
    let host = FakeSerialHost()
    let uart: SerialPort
    let bus: PortBus

    init() throws {
        uart = SerialPort(clock: clock, loop: loop, irq: irq4.line, host: host)
        bus = try PortBus([uart])
    }

    /// 8N1 at 115200 with FIFOs (trigger 8) and OUT2, as Linux's 8250 driver sets a 16550A up.
    func linuxSetup(trigger: UInt8 = 0x80) {
        bus.outb(0x3FB, 0x80)
        bus.outb(0x3F8, 0x01)
        bus.outb(0x3F9, 0x00)
        bus.outb(0x3FB, 0x03)
        bus.outb(0x3FA, 0x01 | 0x06 | trigger)
        bus.outb(0x3FC, 0x0B)  // DTR, RTS, OUT2
    }

    @Test func scratchDivisorLatchAndLineControl() {
        bus.outb(0x3FF, 0xA5)
        #expect(bus.inb(0x3FF) == 0xA5)
        bus.outb(0x3FB, 0x83)
        bus.outb(0x3F8, 0x0C)
        bus.outb(0x3F9, 0x01)
        #expect(bus.inb(0x3F8) == 0x0C && bus.inb(0x3F9) == 0x01)
        bus.outb(0x3FB, 0x03)
        #expect(bus.inb(0x3FB) == 0x03)
        #expect(bus.inb(0x3F9) == 0x00, "IER again once DLAB is clear")
        #expect(host.sent.isEmpty, "divisor writes are not data")
    }

    @Test func fifoIdentificationAsLinuxProbesIt() {
        bus.outb(0x3FA, 0x01)
        #expect(bus.inb(0x3FA) & 0xC0 == 0xC0, "a 16550A reports both FIFO bits")
        bus.outb(0x3FA, 0x00)
        #expect(bus.inb(0x3FA) & 0xC0 == 0)
        #expect(bus.inb(0x3FA) == 0x01)
    }

    @Test func transmittedBytesReachTheHostAndTheTransmitterIsEmpty() {
        linuxSetup()
        for byte in Array("hello\r\n".utf8) { bus.outb(0x3F8, byte) }
        #expect(host.sent == Array("hello\r\n".utf8))
        #expect(bus.inb(0x3FD) & 0x60 == 0x60)
    }

    @Test func thrEmptyInterruptIsClearedByReadingIIRAndReassertedByEnabling() {
        linuxSetup()
        #expect(!irq4.level)
        bus.outb(0x3F9, 0x02)
        #expect(irq4.level)
        #expect(bus.inb(0x3FA) == 0xC2)
        #expect(!irq4.level, "reading IIR with THRE as its reason clears it")
        #expect(bus.inb(0x3FA) == 0xC1)
        // Linux's UART_BUG_THRE test: disable and re-enable, THRE must be asserted again.
        bus.outb(0x3F9, 0x00)
        bus.outb(0x3F9, 0x02)
        #expect(bus.inb(0x3FA) == 0xC2)
        bus.outb(0x3F8, 0x41)
        #expect(irq4.level, "transmitted at once: THR empty again")
    }

    @Test func receivedDataWaitsForTheTriggerLevelOrTheCharacterTimeout() {
        linuxSetup()
        bus.outb(0x3F9, 0x01)
        host.type(Array("abcde".utf8))
        #expect(bus.inb(0x3FD) & 0x01 == 1)
        #expect(bus.inb(0x3FA) == 0xC1, "5 bytes are below the trigger level of 8")
        #expect(!irq4.level)
        clock.step(by: 4 * 10 * 1_000_000_000 / 115_200 + 1_000)
        loop.iterate()
        #expect(irq4.level)
        #expect(bus.inb(0x3FA) == 0xCC, "character timeout")
        #expect(bus.inb(0x3F8) == UInt8(ascii: "a"))
        #expect(bus.inb(0x3FA) == 0xC1, "reading RBR clears the timeout")
        host.type(Array("fghij".utf8))
        #expect(bus.inb(0x3FA) == 0xC4, "8 bytes reach the trigger level")
        var received: [UInt8] = []
        while bus.inb(0x3FD) & 1 == 1 { received.append(bus.inb(0x3F8)) }
        #expect(received == Array("bcdefghij".utf8))
        #expect(!irq4.level)
    }

    @Test func interruptPriorityOrder() {
        linuxSetup(trigger: 0x00)
        bus.outb(0x3F9, 0x0F)
        bus.outb(0x3FC, 0x1C)  // loopback with OUT1 and OUT2: the modem lines change
        for _ in 0..<17 { bus.outb(0x3F8, 0x55) }  // one more than the FIFO: overrun
        #expect(bus.inb(0x3FA) == 0xC6, "line status first")
        #expect(bus.inb(0x3FD) & 0x03 == 0x03, "data ready and overrun")
        #expect(bus.inb(0x3FA) == 0xC4, "then received data")
        while bus.inb(0x3FD) & 1 == 1 { _ = bus.inb(0x3F8) }
        #expect(bus.inb(0x3FA) == 0xC2, "then THR empty")
        #expect(bus.inb(0x3FA) == 0xC0, "then modem status (loopback changed the lines)")
        _ = bus.inb(0x3FE)
        #expect(bus.inb(0x3FA) == 0xC1)
    }

    @Test func loopbackConnectsTheModemLinesAndGatesTheInterrupt() {
        linuxSetup()
        bus.outb(0x3F9, 0x01)
        bus.outb(0x3FC, 0x1A)  // loopback with RTS and OUT2: Linux's autoconfig check
        #expect(bus.inb(0x3FE) & 0xF0 == 0x90, "CTS from RTS, DCD from OUT2")
        bus.outb(0x3F8, 0x42)
        #expect(host.sent.isEmpty, "loopback output stays inside")
        #expect(bus.inb(0x3FD) & 1 == 1, "the byte came back as received data")
        #expect(!irq4.level, "OUT2 is forced inactive in loopback: no interrupt on the bus")
        #expect(bus.inb(0x3F8) == 0x42)
        host.type([0x99])
        #expect(bus.inb(0x3FD) & 1 == 0, "the host's input waits while in loopback")
        bus.outb(0x3FC, 0x0B)
        #expect(bus.inb(0x3F8) == 0x99)
        #expect(bus.inb(0x3FE) & 0xF0 == 0xB0, "the host's lines: DCD, DSR, CTS")
    }

    @Test func out2GatesTheInterruptLine() {
        linuxSetup(trigger: 0x00)
        bus.outb(0x3F9, 0x01)
        bus.outb(0x3FC, 0x03)  // OUT2 off
        host.type([0x31])
        #expect(!irq4.level)
        #expect(bus.inb(0x3FA) == 0xC4, "the UART itself has the interrupt pending")
        bus.outb(0x3FC, 0x0B)
        #expect(irq4.level)
        _ = bus.inb(0x3F8)
        #expect(!irq4.level)
    }

    @Test func inputIsHeldBackNotDroppedWhileTheFIFOIsFull() {
        linuxSetup()
        let input = (0..<40).map { UInt8($0) }
        host.type(input)
        #expect(host.pendingInput == 24, "16 in the FIFO, the rest with the host")
        var received: [UInt8] = []
        while bus.inb(0x3FD) & 1 == 1 { received.append(bus.inb(0x3F8)) }
        #expect(received == input)
        #expect(host.spaceNotices >= 2)
        #expect(bus.inb(0x3FD) & 0x02 == 0, "no overrun")
    }

    @Test func nonFIFOModeHoldsOneByte() {
        bus.outb(0x3FC, 0x08)
        host.type([1, 2, 3])
        #expect(host.pendingInput == 2)
        #expect(bus.inb(0x3F8) == 1)
        #expect(bus.inb(0x3F8) == 2)
        #expect(bus.inb(0x3F8) == 3)
    }

    @Test func slowHostBackPressuresTheTransmitterAndTheFIFOBoundsIt() {
        linuxSetup()
        host.setRoom(4)
        for byte in 0..<40 { bus.outb(0x3F8, UInt8(byte)) }
        #expect(host.sent == [0, 1, 2, 3])
        #expect(bus.inb(0x3FD) & 0x60 == 0, "THR not empty: the guest's driver waits")
        host.drainOutput(100)
        #expect(host.sent.count == 4 + 16, "the FIFO's 16 bytes; the rest were written to a full FIFO and lost")
        #expect(bus.inb(0x3FD) & 0x60 == 0x60)
    }

    @Test func modemStatusDeltasAreReportedOnceAndCleared() {
        bus.outb(0x3FC, 0x10)
        let first = bus.inb(0x3FE)
        #expect(first & 0x0F != 0, "leaving the host's lines sets deltas")
        #expect(bus.inb(0x3FE) & 0x0F == 0)
        bus.outb(0x3FC, 0x11)  // DTR → DSR
        #expect(bus.inb(0x3FE) == 0x22)
    }

    @Test func resetKeepsDivisorAndScratch() {
        linuxSetup()
        bus.outb(0x3FF, 0x77)
        bus.outb(0x3F9, 0x0F)
        uart.reset(.cold)
        #expect(bus.inb(0x3F9) == 0 && bus.inb(0x3FC) == 0 && bus.inb(0x3FA) == 0x01)
        #expect(bus.inb(0x3FF) == 0x77)
        bus.outb(0x3FB, 0x80)
        #expect(bus.inb(0x3F8) == 0x01)
    }

    @Test func floodWithNoHostIsDropped() throws {
        let lonely = SerialPort(name: "serial1", base: 0x2F8, clock: clock, loop: loop,
                                irq: IRQLine(unconnected: "irq3"), host: nil)
        let bus = try PortBus([lonely])
        for _ in 0..<100_000 { bus.outb(0x2F8, 0x41) }
        #expect(bus.inb(0x2FD) & 0x60 == 0x60)
    }
}
