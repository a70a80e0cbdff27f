// emu-pc: the PC launcher. Builds a PCMachine from the command line and reports it. Guest code
// runs once the CPU (EmuTCG) lands; until then it shows the machine's memory and I/O maps and
// drives its buses as firmware would on its first instructions.
import ArgumentParser
import EmuCore
import EmuPC
#if canImport(Glibc)
import Glibc
#endif

@main
struct EmuPCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emu-pc",
        abstract: "Assemble a PC from the Emu libraries and report its memory and I/O maps.")

    @Option(name: [.customShort("m"), .long], help: "Guest RAM in MiB.")
    var memory: UInt64 = 256

    @Option(name: .long, help: "Firmware image (64 KiB to 16 MiB), mapped below 4 GiB.")
    var bios: String?

    @Flag(name: .long, help: "Print only the memory map (info mtree -f).")
    var mapOnly = false

    func run() throws {
        var configuration = PCMachineConfiguration()
        configuration.memorySize = memory << 20
        if let bios { configuration.firmware = try readFile(bios) }
        configuration.debugConsoleOutput = { line in
            print("debugcon: " + String(decoding: line, as: UTF8.self), terminator: "")
        }
        let machine: PCMachine
        do {
            machine = try PCMachine(configuration)
        } catch let error as PCConfigurationError {
            throw ValidationError(error.description)
        }

        print(machine.memory.describe())
        if mapOnly { return }
        print(machine.io.describe())
        if let block = machine.ram.ramBlock {
            print("RAM: \(block.size >> 20) MiB in memfd \(block.fd) (shareable with vhost-user back ends)")
        }

        // What firmware does first, through the same buses a CPU will use: read the reset
        // vector, probe the debug console, print through it, and check RAM below 1 MiB.
        let resetVector = machine.memory.read(at: 0xFFFF_FFF0, size: 4)
        print("reset vector 0xFFFFFFF0 reads 0x" + String(resetVector, radix: 16))
        let probe = machine.io.read(at: 0x402, size: 1)
        print("debugcon probe at port 0x402 reads 0x" + String(probe, radix: 16))
        for byte in Array("emu-pc: buses and devices assembled\n".utf8) {
            machine.io.write(at: 0x402, size: 1, value: UInt64(byte))
        }
        machine.memory.write(at: 0x7C00, size: 8, value: 0x0123_4567_89AB_CDEF)
        let back = machine.memory.read(at: 0x7C00, size: 8)
        print(back == 0x0123_4567_89AB_CDEF ? "RAM at 0x7C00: ok" : "RAM at 0x7C00: MISMATCH")
        print("No CPU yet: guest code runs once EmuTCG lands.")
        if back != 0x0123_4567_89AB_CDEF { throw ExitCode.failure }
    }
}

private func readFile(_ path: String) throws -> [UInt8] {
    guard let file = fopen(path, "rb") else {
        throw ValidationError("cannot open \(path): \(String(cString: strerror(errno)))")
    }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = fread(&chunk, 1, chunk.count, file)
        if n > 0 { bytes.append(contentsOf: chunk[0..<n]) }
        if n < chunk.count { break }
        guard bytes.count <= 16 << 20 else { throw ValidationError("\(path) is larger than 16 MiB") }
    }
    return bytes
}
