import EmuCore

/// A PC assembled from EmuCore: the memory and I/O address spaces with the PC's layout, its
/// firmware ROM, the devices built so far, and the machine's event loop and virtual clock.
///
/// Memory layout: RAM from 0 up to 3 GiB (``PCMachineConfiguration/lowMemoryLimit``), the rest
/// above 4 GiB; firmware in the last bytes below 4 GiB, its last 128 KiB also at 0xE0000 (over
/// RAM, higher priority), as the PC's reset vector and legacy BIOS area need.
/// Guest code runs once the CPU (EmuTCG) lands; until then the machine can be built, inspected,
/// and driven through its buses.
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
    public let clock = VirtualClock()

    /// Builds the machine.
    /// - Throws: ``PCConfigurationError`` for a bad configuration, a memory error if the host
    ///   cannot provide the RAM (e.g. memfd or mmap refused).
    public init(_ configuration: PCMachineConfiguration, loop: EventLoop = EventLoop(name: "main")) throws {
        try configuration.validate()
        self.configuration = configuration
        self.loop = loop

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

        self.ram = ram
        self.firmware = firmware
        self.memory = AddressSpace(name: "memory", root: system)
        self.io = AddressSpace(name: "I/O", root: ports, kind: .io)
    }

    /// Resets every device.
    public func reset(_ kind: ResetKind = .cold) { devices.reset(kind) }
}
