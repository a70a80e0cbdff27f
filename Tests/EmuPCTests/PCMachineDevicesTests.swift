import Testing
import Synchronization
import EmuCore
#if canImport(Glibc)
import Glibc
#endif
@testable import EmuPC

/// The machine's legacy chipset and ACPI devices, reached through its I/O address space as a
/// CPU's IN and OUT instructions reach them.
@Suite("PC machine devices")
struct PCMachineDevicesTests {
    /// A machine whose events are collected.
    static func machine(_ configure: (inout PCMachineConfiguration) -> Void = { _ in }) throws
        -> (PCMachine, EventBox) {
        var configuration = PCMachineConfiguration()
        configure(&configuration)
        let box = EventBox()
        configuration.eventHandler = { event in box.append(event) }
        return (try PCMachine(configuration), box)
    }

    @Test func everyDeviceIsBuiltAndResetWithTheMachine() throws {
        let (machine, _) = try Self.machine()
        let names = Set(machine.devices.all.map(\.name))
        for name in ["pic", "pit", "port61", "rtc", "serial0", "i8042", "post", "port92", "acpi-pm",
                     "reset-control", "debugcon"] {
            #expect(names.contains(name), "missing \(name) in \(names.sorted())")
        }
        let map = machine.io.describe()
        for port in ["0020", "00a0", "04d0", "0040", "0061", "0060", "0064", "0070", "0080", "0092",
                     "03f8", "0402", "0600", "0cf9"] {
            #expect(map.contains(port), "nothing at port 0x\(port):\n\(map)")
        }
    }

    @Test func portsAnswerAsTheirDevicesDo() throws {
        let (machine, _) = try Self.machine()
        let io = machine.io
        // PIC: ICW1-4 then the mask, read back at 0x21.
        io.write(at: 0x20, size: 1, value: 0x11); io.write(at: 0x21, size: 1, value: 0x08)
        io.write(at: 0x21, size: 1, value: 0x04); io.write(at: 0x21, size: 1, value: 0x01)
        io.write(at: 0x21, size: 1, value: 0xA5)
        #expect(io.read(at: 0x21, size: 1) == 0xA5)
        // RTC register D: valid RAM and time (bit 7).
        io.write(at: 0x70, size: 1, value: 0x0D)
        #expect(io.read(at: 0x71, size: 1) == 0x80)
        // RTC CMOS: memory above 16 MiB in 64 KiB units (256 MiB machine: 240 MiB = 0x0F00 units).
        io.write(at: 0x70, size: 1, value: 0x34)
        #expect(io.read(at: 0x71, size: 1) == 0x00)
        io.write(at: 0x70, size: 1, value: 0x35)
        #expect(io.read(at: 0x71, size: 1) == 0x0F)
        // UART scratch register.
        io.write(at: 0x3FF, size: 1, value: 0x5A)
        #expect(io.read(at: 0x3FF, size: 1) == 0x5A)
        io.write(at: 0x3FF, size: 1, value: 0xC3)
        #expect(io.read(at: 0x3FF, size: 1) == 0xC3)
        // i8042 status: nothing to read, keyboard not inhibited; a self-test answers 0x55.
        #expect(io.read(at: 0x64, size: 1) & 0x01 == 0)
        io.write(at: 0x64, size: 1, value: 0xAA)
        #expect(io.read(at: 0x64, size: 1) & 0x01 == 0x01)
        #expect(io.read(at: 0x60, size: 1) == 0x55)
        // Port 0x80 keeps the last code; port 0x92 reads back with A20 on.
        io.write(at: 0x80, size: 1, value: 0x42)
        #expect(machine.postCodePort.lastValue == 0x42)
        #expect(io.read(at: 0x92, size: 1) == 0x02)
        // The ACPI PM block: SCI_EN reads back set in PM1_CNT; the PM timer counts with the clock.
        #expect(io.read(at: 0x604, size: 2) & 1 == 1)
        let t0 = io.read(at: 0x608, size: 4)
        machine.clock.advance(to: machine.clock.now + 1_000_000)
        let t1 = io.read(at: 0x608, size: 4)
        #expect(t1 &- t0 == 3579 || t1 &- t0 == 3580, "1 ms of PM timer: \(t1 &- t0) ticks")
    }

    @Test func aPITTickOnTheVirtualClockReachesThePICsIRR() throws {
        let (machine, _) = try Self.machine()
        let io = machine.io
        io.write(at: 0x20, size: 1, value: 0x11); io.write(at: 0x21, size: 1, value: 0x08)
        io.write(at: 0x21, size: 1, value: 0x04); io.write(at: 0x21, size: 1, value: 0x01)
        io.write(at: 0x21, size: 1, value: 0xFF)  // all masked: IRR still records the request
        io.write(at: 0x20, size: 1, value: 0x0A)  // OCW3: read IRR
        #expect(io.read(at: 0x20, size: 1) & 0x01 == 0)
        io.write(at: 0x43, size: 1, value: 0x34)  // channel 0, mode 2, lo/hi
        io.write(at: 0x40, size: 1, value: 0xA9); io.write(at: 0x40, size: 1, value: 0x04)  // 1193: 1 ms
        machine.clock.advance(to: machine.clock.now + 1_100_000)
        for _ in 0..<3 { _ = machine.loop.iterate() }
        #expect(io.read(at: 0x20, size: 1) & 0x01 == 0x01, "IRQ 0 requested after 1.1 ms")
        #expect(!machine.interruptOutput.level, "masked: INT stays low")
        io.write(at: 0x21, size: 1, value: 0xFE)
        #expect(machine.interruptOutput.level, "unmasked: INT rises")
        #expect(machine.pic.acknowledge() == 0x08)
    }

    @Test func theSCIIsLevelTriggeredAfterBuildAndAfterReset() throws {
        let (machine, _) = try Self.machine()
        #expect(machine.pic.edgeLevelControl == 1 << 9)
        #expect(machine.io.read(at: 0x4D1, size: 1) == 0x02)
        machine.reset(.warm)
        #expect(machine.pic.edgeLevelControl == 1 << 9)
        machine.reset(.cold)
        #expect(machine.pic.edgeLevelControl == 1 << 9)
    }

    @Test func eachResetSourceRaisesOneResetEvent() throws {
        let (machine, events) = try Self.machine()
        machine.io.write(at: 0xCF9, size: 1, value: 0x06)
        #expect(events.list == [.resetRequested(.resetControlRegister(hard: true))])
        machine.io.write(at: 0xCF9, size: 1, value: 0x02)  // bit 2 clear: no reset
        #expect(events.list.count == 1)
        machine.io.write(at: 0x64, size: 1, value: 0xFE)
        #expect(events.list.last == .resetRequested(.keyboardController))
        #expect(events.list.count == 2)
        machine.io.write(at: 0x92, size: 1, value: 0x03)
        machine.io.write(at: 0x92, size: 1, value: 0x03)  // still set: no second edge
        #expect(events.list.last == .resetRequested(.systemControlPortA))
        #expect(events.list.count == 3)
    }

    @Test func theResetRegisterWinsOverARegionCoveringThePCIConfigurationDword() throws {
        let (machine, events) = try Self.machine()
        let configAddress = RecordingHandler()
        let region = try MemoryRegion.mmio(name: "pci-conf-idx", size: 4, handler: configAddress)
        try machine.io.root.addSubregion(region, at: 0xCF8)
        machine.io.write(at: 0xCF9, size: 1, value: 0x0E)
        #expect(events.list == [.resetRequested(.resetControlRegister(hard: true))])
        #expect(machine.io.read(at: 0xCF9, size: 1) == 0x0A, "bits 1 and 3 read back")
        #expect(configAddress.writes.withLock { $0 }.isEmpty)
        machine.io.write(at: 0xCF8, size: 1, value: 0x11)
        machine.io.write(at: 0xCFA, size: 1, value: 0x22)
        #expect(configAddress.writes.withLock { $0 } == [0: 0x11, 2: 0x22], "the rest of the dword still decodes")
    }

    @Test func sleepTypeFiveWithSleepEnablePowersOff() throws {
        let (machine, events) = try Self.machine()
        machine.io.write(at: 0x604, size: 2, value: 5 << 10 | 1)  // SLP_TYP=5 without SLP_EN
        #expect(events.list.isEmpty)
        machine.io.write(at: 0x604, size: 2, value: 5 << 10 | 1 << 13 | 1)
        #expect(events.list == [.powerOffRequested])
        machine.io.write(at: 0x604, size: 2, value: 3 << 10 | 1 << 13 | 1)
        #expect(events.list.last == .sleepRequested(type: 3))
    }

    @Test func moreThanOneCPUIsRefused() {
        var configuration = PCMachineConfiguration()
        configuration.cpuCount = 2
        #expect(throws: PCConfigurationError.cpuCount(2)) { try configuration.validate() }
        #expect(throws: PCConfigurationError.self) { try PCMachine(configuration) }
        #expect(PCConfigurationError.cpuCount(2).description.contains("one CPU"))
    }

    @Test func serialOutputReachesAFileHostSide() throws {
        let path = "/tmp/emu-pc-serial-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).txt"
        defer { unlink(path) }
        let (machine, _) = try Self.machine { $0.serialPort = .file(path: path) }
        for byte in Array("ok\n".utf8) { machine.io.write(at: 0x3F8, size: 1, value: UInt64(byte)) }
        machine.close()  // writes what is buffered
        #expect(try HostFile.read(path) == Array("ok\n".utf8))
    }
}

/// Collects events from the machine's handler.
final class EventBox: Sendable {
    private let events = Mutex<[PCMachineEvent]>([])
    func append(_ event: PCMachineEvent) { events.withLock { $0.append(event) } }
    var list: [PCMachineEvent] { events.withLock { $0 } }
}

/// An MMIO handler that records byte writes by offset.
private final class RecordingHandler: MMIOHandler {
    let writes = Mutex<[UInt64: UInt64]>([:])
    var accessSizes: MMIOAccessSizes { .bytes }
    func read(offset: UInt64, size: Int) -> UInt64 { 0 }
    func write(offset: UInt64, size: Int, value: UInt64) { writes.withLock { $0[offset] = value } }
}
