// emu-pc: the PC launcher. Parses the command line, builds a PCMachine and reports it. There is
// no CPU in system mode: without --kernel it shows the machine's memory and I/O maps and drives
// its buses as firmware would on its first instructions (status 0); with --kernel it loads and
// checks the guest, prints the CPU's entry state and the e820 map, and exits with status 2
// because nothing can run the guest. A missing or unusable file ends it with status 1 first.
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

    @Option(name: .long, help: "Linux kernel (bzImage) to load.")
    var kernel: String?

    @Option(name: .long, help: "Initial ramdisk to load with the kernel.")
    var initrd: String?

    @Option(name: .long, help: "Kernel command line.")
    var append: String = ""

    @Option(name: .long, help: "COM1's host side: stdio, file:PATH or unix:PATH (default: none).")
    var serial: String?

    @Option(name: .customLong("dump-acpi"), help: "Write the ACPI tables to DIR (needs --kernel).")
    var dumpACPI: String?

    @Flag(name: .customLong("no-reboot"), help: "Treat a guest reset request as the end of the run (reported only: no CPU runs yet).")
    var noReboot = false

    func validate() throws {
        if kernel == nil {
            if initrd != nil { throw ValidationError("--initrd needs --kernel") }
            if !append.isEmpty { throw ValidationError("--append needs --kernel") }
            if dumpACPI != nil { throw ValidationError("--dump-acpi needs --kernel (the loader places the tables)") }
        }
        if let serial, serialAttachment(serial) == nil {
            throw ValidationError("--serial must be stdio, file:PATH or unix:PATH, not '\(serial)'")
        }
    }

    func run() throws {
        var configuration = PCMachineConfiguration()
        configuration.memorySize = memory << 20
        if let bios { configuration.firmware = try readFile(bios) }
        configuration.serialPort = serial.flatMap(serialAttachment) ?? .disconnected
        let noReboot = self.noReboot
        configuration.eventHandler = { event in
            let note = if case .resetRequested = event, noReboot { " (--no-reboot: treated as the end)" } else { "" }
            printError("emu-pc: guest event \(event)\(note)")
        }
        configuration.debugConsoleOutput = { line in
            print("debugcon: " + String(decoding: line, as: UTF8.self), terminator: "")
        }
        let machine: PCMachine
        do {
            machine = try PCMachine(configuration)
        } catch let error as PCConfigurationError {
            throw ValidationError(error.description)
        }
        defer { machine.close() }

        if let kernel { try boot(machine, kernel: kernel) }

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
        print("No guest runs yet: EmuTCG has no system mode to run one (--kernel loads and checks a Linux guest).")
        if back != 0x0123_4567_89AB_CDEF { throw ExitCode.failure }
    }

    /// Loads the guest and reports it; always ends the command: status 1 if the guest cannot be
    /// loaded, 2 once it is (no CPU can run it).
    private func boot(_ machine: PCMachine, kernel: String) throws -> Never {
        let result: LinuxBootLoader.Result
        do {
            result = try machine.loadLinux(kernel: kernel, initialRamdisk: initrd, commandLine: append)
        } catch {
            machine.close()
            printError("emu-pc: \(error)")
            throw ExitCode.failure
        }
        if let dumpACPI, let tables = result.acpiTables {
            do { try tables.dump(toDirectory: dumpACPI) } catch {
                machine.close()
                printError("emu-pc: --dump-acpi: \(error)")
                throw ExitCode.failure
            }
            print("ACPI tables written to \(dumpACPI): " + tables.entries.map(\.signature).joined(separator: " "))
        }
        let hex = { (value: UInt64) in "0x" + String(value, radix: 16) }
        let state = result.entryState
        print("kernel \(kernel) loaded at \(hex(result.kernelRange.lowerBound))-\(hex(result.kernelRange.upperBound - 1))")
        if let range = result.initialRamdiskRange {
            print("initrd \(initrd ?? "") at \(hex(range.lowerBound))-\(hex(range.upperBound - 1))")
        }
        if let tables = result.acpiTables { print("ACPI RSDP at \(hex(tables.rsdpAddress))") }
        print("entry state (64-bit):")
        print("  rip=\(hex(state.rip)) rsi=\(hex(state.rsi)) (zero page) rsp=\(hex(state.rsp)) rflags=\(hex(state.rflags))")
        print("  cr0=\(hex(state.cr0)) cr3=\(hex(state.cr3)) cr4=\(hex(state.cr4)) efer=\(hex(state.efer))")
        print("  gdt=\(hex(state.gdtBase)) limit \(hex(UInt64(state.gdtLimit))) cs=\(hex(UInt64(state.codeSelector))) ds=\(hex(UInt64(state.dataSelector)))")
        print("e820 map:")
        for entry in result.e820 { print("  \(entry)") }
        machine.close()
        printError("emu-pc: the guest is loaded, but the CPU's system mode (EmuTCG) is not there yet: nothing can run it.")
        throw ExitCode(2)
    }
}

/// The serial attachment a `--serial` value names, `nil` if it names none.
private func serialAttachment(_ value: String) -> PCSerialAttachment? {
    if value == "stdio" { return .stdio }
    if value.hasPrefix("file:"), value.count > 5 { return .file(path: String(value.dropFirst(5))) }
    if value.hasPrefix("unix:"), value.count > 5 { return .unixSocket(path: String(value.dropFirst(5))) }
    return nil
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

/// Writes `message` and a newline to standard error.
private func printError(_ message: String) {
    let bytes = Array((message + "\n").utf8)
    var done = 0
    while done < bytes.count {
        let n = bytes[done...].withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { return }
        done += n
    }
}
