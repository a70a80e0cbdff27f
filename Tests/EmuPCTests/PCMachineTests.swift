import Testing
import Synchronization
import EmuCore
@testable import EmuPC

@Suite("PC machine assembly")
struct PCMachineTests {
    @Test func memoryAboveThreeGiBIsRemappedAboveFourGiB() throws {
        var configuration = PCMachineConfiguration()
        configuration.memorySize = 4 << 30
        let machine = try PCMachine(configuration)
        // The last byte of low RAM and the first byte above 4 GiB are the two ends of one block.
        machine.memory.write(at: PCMachineConfiguration.lowMemoryLimit - 1, size: 1, value: 0xAA)
        machine.memory.write(at: 1 << 32, size: 1, value: 0xBB)
        let block = try #require(machine.ram.ramBlock)
        let low = block.hostBase.load(fromByteOffset: Int(PCMachineConfiguration.lowMemoryLimit - 1), as: UInt8.self)
        let high = block.hostBase.load(fromByteOffset: Int(PCMachineConfiguration.lowMemoryLimit), as: UInt8.self)
        #expect(low == 0xAA && high == 0xBB)
        #expect(machine.memory.read(at: 0xD000_0000, size: 4) == 0xFFFF_FFFF, "the PCI hole is unassigned")
        #expect(machine.memory.read(at: (1 << 32) + (1 << 30), size: 1) == 0xFF, "nothing past the RAM")
    }

    @Test func firmwareSitsBelowFourGiBAndItsTailAtTheLegacyBIOSArea() throws {
        var firmware = [UInt8](repeating: 0, count: 256 << 10)
        for i in firmware.indices { firmware[i] = UInt8(truncatingIfNeeded: i &* 31) }
        var configuration = PCMachineConfiguration()
        configuration.firmware = firmware
        let machine = try PCMachine(configuration)
        let resetVector = machine.memory.readBytes(at: 0xFFFF_FFF0, count: 16)
        #expect(resetVector == Array(firmware.suffix(16)))
        let legacy = machine.memory.readBytes(at: 0xFFFF0, count: 16)
        #expect(legacy == resetVector, "0xF0000-0xFFFFF shows the firmware's last 64 KiB")
        machine.memory.write(at: 0xFFFF0, size: 4, value: 0)
        #expect(machine.memory.readBytes(at: 0xFFFF0, count: 4) == Array(firmware.suffix(16).prefix(4)),
                "firmware is read-only to the guest")
        machine.memory.write(at: 0xD0000, size: 4, value: 0x1234_5678)
        #expect(machine.memory.read(at: 0xD0000, size: 4) == 0x1234_5678, "RAM below the BIOS area")
    }

    @Test func invalidConfigurationsAreRefusedBeforeAnythingIsBuilt() {
        var small = PCMachineConfiguration()
        small.memorySize = 4096
        #expect(throws: PCConfigurationError.self) { try PCMachine(small) }
        var odd = PCMachineConfiguration()
        odd.memorySize = (1 << 20) + 1
        #expect(throws: PCConfigurationError.self) { try PCMachine(odd) }
        var tinyFirmware = PCMachineConfiguration()
        tinyFirmware.firmware = [1, 2, 3]
        #expect(throws: PCConfigurationError.self) { try PCMachine(tinyFirmware) }
    }

    @Test func debugConsoleDeliversLinesThroughThePortAndBoundsThem() throws {
        let lines = Mutex<[[UInt8]]>([])
        var configuration = PCMachineConfiguration()
        configuration.debugConsoleOutput = { line in lines.withLock { $0.append(line) } }
        let machine = try PCMachine(configuration)
        #expect(machine.io.read(at: 0x402, size: 1) == 0xE9)
        for byte in Array("hi\nthere".utf8) { machine.io.write(at: 0x402, size: 1, value: UInt64(byte)) }
        #expect(lines.withLock { $0 } == [Array("hi\n".utf8)])
        machine.reset()
        #expect(lines.withLock { $0.last } == Array("there".utf8), "reset flushes the partial line")
        // A guest that never sends a newline cannot make the buffer grow without bound.
        for _ in 0..<(DebugConsolePort.maxLine * 3) { machine.io.write(at: 0x402, size: 1, value: 0x41) }
        #expect(lines.withLock { $0.count } == 2 + 3)
        #expect(lines.withLock { $0.allSatisfy { $0.count <= DebugConsolePort.maxLine } })
        // A 2-byte write to the 1-byte port: the low byte reaches it, the high byte goes to the
        // unassigned port 0x403.
        machine.io.write(at: 0x402, size: 2, value: 0x0A42)
        machine.io.write(at: 0x402, size: 1, value: 0x0A)
        #expect(lines.withLock { $0.last?.count } == 2)
        #expect(lines.withLock { $0.last } == [0x42, 0x0A])
    }
}
