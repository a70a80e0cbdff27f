import EmuCore

/// A PC assembled from EmuCore: the memory and I/O address spaces with the PC's layout, its
/// firmware ROM, the legacy chipset and ACPI devices, and the machine's event loop and virtual
/// clock.
///
/// Memory layout: RAM from 0 up to 3 GiB (``PCMachineConfiguration/lowMemoryLimit``), the rest
/// above 4 GiB; firmware in the last bytes below 4 GiB, its last 128 KiB also at 0xE0000 (over
/// RAM, higher priority), as the PC's reset vector and legacy BIOS area need.
///
/// I/O ports: the i8259 pair (0x20, 0xA0, ELCR 0x4D0), the i8254 (0x40–0x43) with port 0x61,
/// the i8042 (0x60, 0x64), the RTC and CMOS (0x70, 0x71; memory sizes stored as firmware does),
/// port 0x80, port 0x92, COM1 (0x3F8–0x3FF, IRQ 4, host side from
/// ``PCMachineConfiguration/serialPort``), the ISA debug console (0x402), the ACPI PM block
/// (0x600–0x60B, SCI on ISA IRQ 9, level-triggered: its ELCR bit is set at build and after every
/// reset, as firmware would) and the reset control register (0xCF9, priority 1 so that it wins
/// over any region that covers the PCI configuration dword at 0xCF8). ISA interrupts reach the
/// PIC through ``isaInterrupts``; the PIC's INT output is ``interruptOutput``, connected to
/// nothing. Guest requests to reset, power off or sleep reach
/// ``PCMachineConfiguration/eventHandler`` as ``PCMachineEvent``s.
///
/// There is no CPU: the machine can be built, loaded with a Linux kernel
/// (``loadLinux(kernel:initialRamdisk:commandLine:entry:)``), inspected, and driven through its
/// buses, but no guest code runs.
public final class PCMachine: Sendable {
    /// The validated configuration.
    public let configuration: PCMachineConfiguration
    /// Guest-physical memory.
    public let memory: AddressSpace
    /// x86 I/O ports (64 KiB).
    public let io: AddressSpace
    /// The single RAM block (memfd-backed; its fd can be shared with vhost-user back ends).
    public let ram: MemoryRegion
    /// The firmware ROM.
    public let firmware: MemoryRegion
    /// The machine's devices, reset together.
    public let devices = DeviceSet()
    /// The machine's main loop.
    public let loop: EventLoop
    /// The guest's clock: paused while the machine is stopped.
    public let clock: VirtualClock

    /// The i8259 pair, with its ELCR.
    public let pic: ProgrammableInterruptController
    /// The PIC's INT output (a line connected to nothing; its level says whether INT is asserted).
    public let interruptOutput: IRQLine
    /// The ISA IRQ lines the devices drive.
    public let isaInterrupts: ISAInterruptRouting
    /// The i8254 interval timer on IRQ 0.
    public let timer: IntervalTimer
    /// Port 0x61: PIT channel 2's gate and output, the speaker enable, the refresh toggle.
    public let systemControlPortB: SystemControlPortB
    /// The MC146818 real-time clock and CMOS on IRQ 8.
    public let realTimeClock: RealTimeClock
    /// COM1, the 16550A UART at 0x3F8 on IRQ 4.
    public let serialPort: SerialPort
    /// COM1's host side, `nil` for ``PCSerialAttachment/disconnected``.
    public let serialHost: (any SerialHostSide)?
    /// The i8042 keyboard controller (keyboard IRQ 1; its reset line raises a reset event).
    public let keyboardController: KeyboardController
    /// Port 0x80.
    public let postCodePort: POSTCodePort
    /// Port 0x92 (A20 and the fast reset bit).
    public let systemControlPortA: SystemControlPortA
    /// The ACPI PM1 event and control blocks and PM timer at 0x600.
    public let powerManagement: ACPIPowerManagement
    /// The reset control register at 0xCF9.
    public let resetControl: ResetControlRegister

    /// Builds the machine and its devices, and connects COM1 to its host side.
    /// - Throws: ``PCConfigurationError`` for a bad configuration, a memory error if the host
    ///   cannot provide the RAM (e.g. memfd or mmap refused), ``SystemCallError`` if the serial
    ///   port's host side cannot be opened (a file or socket path refused).
    public init(_ configuration: PCMachineConfiguration, loop: EventLoop = EventLoop(name: "main")) throws {
        try configuration.validate()
        self.configuration = configuration
        self.loop = loop
        let clock = VirtualClock()
        self.clock = clock

        let system = try MemoryRegion.container(name: "system", size: 1 << 48)
        let ram = try MemoryRegion.ram(name: "pc.ram", size: configuration.memorySize)
        let firmwareBytes = configuration.firmware
            ?? [UInt8](repeating: 0xFF, count: Int(PCMachineConfiguration.defaultFirmwareSize))
        let firmware = try MemoryRegion.rom(name: "pc.bios", size: UInt64(firmwareBytes.count))
        try firmware.hostWrite(firmwareBytes, at: 0)

        let low = min(configuration.memorySize, PCMachineConfiguration.lowMemoryLimit)
        let isaBIOSSize = min(UInt64(firmwareBytes.count), 128 << 10)
        try MemoryRegion.transaction {
            try system.addSubregion(try .alias(name: "ram-below-4g", of: ram, offset: 0, size: low), at: 0)
            if configuration.memorySize > low {
                let high = try MemoryRegion.alias(name: "ram-above-4g", of: ram, offset: low,
                                                  size: configuration.memorySize - low)
                try system.addSubregion(high, at: 1 << 32)
            }
            try system.addSubregion(firmware, at: (1 << 32) - UInt64(firmwareBytes.count))
            let isaBIOS = try MemoryRegion.alias(name: "isa-bios", of: firmware,
                                                 offset: UInt64(firmwareBytes.count) - isaBIOSSize,
                                                 size: isaBIOSSize)
            try system.addSubregion(isaBIOS, at: 0x10_0000 - isaBIOSSize, priority: 1)
        }

        let ports = try MemoryRegion.container(name: "io", size: 0x1_0000)
        let debugConsole = DebugConsolePort(output: configuration.debugConsoleOutput)
        try ports.addSubregion(try .mmio(name: "debugcon", size: 1, handler: debugConsole), at: 0x402)
        try devices.add(debugConsole)

        // The legacy chipset.
        let event = configuration.eventHandler
        let interruptOutput = IRQLine(unconnected: "pic.int")
        let pic = ProgrammableInterruptController(interruptOutput: interruptOutput)
        let isa = ISAInterruptRouting(pic: pic)
        let timer = IntervalTimer(clock: clock, loop: loop, output: isa.line(0))
        let portB = SystemControlPortB(timer: timer)
        let rtc = RealTimeClock(clock: clock, loop: loop, irq: isa.line(8))
        rtc.setMemorySize(belowFourGiB: low, aboveFourGiB: configuration.memorySize - low)
        let serialHost: (any SerialHostSide)? = switch configuration.serialPort {
        case .disconnected: nil
        case .stdio: StdioSerialHost(loop: loop)
        case .file(let path): try FileSerialHost(loop: loop, path: path)
        case .unixSocket(let path): try UnixSocketSerialHost(loop: loop, path: path)
        }
        let serial = SerialPort(name: "serial0", base: 0x3F8, clock: clock, loop: loop, irq: isa.line(4), host: serialHost)
        let keyboard = KeyboardController(keyboardIRQ: isa.line(1)) { event(.resetRequested(.keyboardController)) }
        let post = POSTCodePort()
        let portA = SystemControlPortA { event(.resetRequested(.systemControlPortA)) }
        for device: any PortIODevice in [pic, timer, portB, rtc, serial, keyboard, post, portA] {
            try device.mapPorts(into: ports)
            try devices.add(device)
        }

        // ACPI: the PM block and the reset register.
        let acpi = configuration.acpiConfiguration
        let pm = ACPIPowerManagement(clock: clock, sci: isa.line(Int(acpi.sciInterrupt)), loop: loop,
                                     sleepTypeS5: acpi.sleepTypeS5) { request in
            switch request {
            case .powerOff: event(.powerOffRequested)
            case .sleep(let type): event(.sleepRequested(type: type))
            }
        }
        try ports.addSubregion(try .mmio(name: "acpi-pm", size: ACPIPowerManagement.size, handler: pm),
                               at: UInt64(acpi.pmBase))
        try devices.add(pm)
        let resetControl = ResetControlRegister { hard in event(.resetRequested(.resetControlRegister(hard: hard))) }
        try ports.addSubregion(try .mmio(name: "reset-control", size: 1, handler: resetControl),
                               at: UInt64(PCACPIConfiguration.ResetRegister.resetControlRegister.port),
                               priority: 1)
        try devices.add(resetControl)

        self.interruptOutput = interruptOutput
        self.pic = pic
        self.isaInterrupts = isa
        self.timer = timer
        self.systemControlPortB = portB
        self.realTimeClock = rtc
        self.serialPort = serial
        self.serialHost = serialHost
        self.keyboardController = keyboard
        self.postCodePort = post
        self.systemControlPortA = portA
        self.powerManagement = pm
        self.resetControl = resetControl
        self.ram = ram
        self.firmware = firmware
        self.memory = AddressSpace(name: "memory", root: system)
        self.io = AddressSpace(name: "I/O", root: ports, kind: .io)
        setLevelTriggeredInterrupts()
    }

    /// Resets every device, then sets the SCI's ELCR bit again (the PIC's reset makes every
    /// IRQ edge-triggered; on a PC, firmware sets the bit).
    public func reset(_ kind: ResetKind = .cold) {
        devices.reset(kind)
        setLevelTriggeredInterrupts()
    }

    /// Closes COM1's host side (restoring a terminal put in raw mode, closing a file or socket).
    /// The machine's ports stay usable; the serial port's output is dropped from then on.
    public func close() { serialHost?.close() }

    deinit { serialHost?.close() }

    /// Marks the SCI level-triggered in the PIC's ELCR, as firmware does.
    private func setLevelTriggeredInterrupts() {
        let sci = Int(configuration.acpiConfiguration.sciInterrupt)
        guard sci < ISAInterruptRouting.count else { return }
        let port = UInt16(0x4D0 + sci / 8)
        pic.writePort(port, value: pic.readPort(port) | UInt8(1 << (sci % 8)))
    }
}
