// emu-user [OPTIONS] PROGRAM [ARGS...]
// Runs an x86-64 Linux executable (static, static-PIE, or dynamically linked with the host's ld.so)
// under EmuTCG; the guest's stdio is ours and our exit status is the guest's (a guest killed by a
// signal kills us with the same signal).
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import EmuLinuxUser
import EmuTCG
import ExampleSupport

@main
struct EmuUser: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emu-user",
        abstract: "Run an x86-64 Linux program under EmuTCG.",
        discussion: """
            Everything after PROGRAM is the guest's argv, passed through untouched, options \
            included (emu-user /bin/ls -la). Put -- before a PROGRAM whose name starts with a dash. \
            The guest's stdio is emu-user's; emu-user exits with the guest's status, and a guest \
            killed by a signal kills emu-user with the same signal. A guest execve runs the new \
            program under emu-user again.
            """)

    @Option(name: .customShort("E"), help: ArgumentHelp("Set VAR=VALUE in the guest's environment (repeatable; after -U).",
                                                        valueName: "VAR=VALUE"))
    var set: [String] = []

    @Option(name: .customShort("U"), help: ArgumentHelp("Remove VAR from the guest's environment (repeatable).", valueName: "VAR"))
    var unset: [String] = []

    @Option(help: ArgumentHelp("The guest's argv[0], when it differs from PROGRAM.", valueName: "NAME"))
    var argv0: String?

    @Flag(name: [.long, .customLong("strace", withSingleDash: true)],
          help: "Debugging: print every system call and its result on standard error.")
    var strace = false

    @Option(help: ArgumentHelp("The CPU back end, closure or host (as EMU_TCG_BACKEND; kept for the programs the guest executes).",
                               valueName: "BACKEND"))
    var backend: String?

    @Flag(help: "Debugging: print each translated block's address, rax and rsp on standard error.")
    var traceBlocks = false

    @Option(help: ArgumentHelp("Debugging: load PROGRAM, decode 40 instructions at ADDRESS (hex) and exit.",
                               valueName: "ADDRESS"),
            transform: { text in
                guard let address = UInt64(text.hasPrefix("0x") ? String(text.dropFirst(2)) : text, radix: 16) else {
                    throw ValidationError("--decode wants a hexadecimal address, not '\(text)'")
                }
                return address
            })
    var decode: UInt64?

    @Argument(parsing: .captureForPassthrough,
              help: ArgumentHelp("The program and its arguments, passed through untouched.", valueName: "PROGRAM [ARGS...]"))
    var command: [String] = []

    /// The program's path and the guest's argv, `command` less a leading `--`.
    private var guestCommand: [String] { command.first == "--" ? Array(command.dropFirst()) : command }

    mutating func validate() throws {
        guard let program = guestCommand.first else { throw ValidationError("missing PROGRAM") }
        // Before PROGRAM, --help is emu-user's (the passthrough capture would take it otherwise).
        if ["--help", "-h", "-help"].contains(command.first) { throw CleanExit.helpRequest(self) }
        // An option emu-user does not know ends its own options like a program path would.
        if command.first != "--", program.hasPrefix("-") {
            throw ValidationError("unknown option '\(program)' (put -- before a program whose name starts with a dash)")
        }
        if let backend, ExecutorBackend(rawValue: backend) == nil {
            throw ValidationError("--backend wants closure or host, not '\(backend)'")
        }
        for assignment in set where !assignment.contains("=") || assignment.hasPrefix("=") {
            throw ValidationError("-E wants VAR=VALUE, not '\(assignment)'")
        }
    }

    func run() throws {
        if let backend { setenv("EMU_TCG_BACKEND", backend, 1) }
        var guestArguments = guestCommand
        let programPath = guestArguments[0]
        if let argv0 { guestArguments[0] = argv0 }
        let process: LinuxProcess
        do {
            process = try LinuxProcess(path: programPath, arguments: guestArguments, environment: guestEnvironment())
        } catch {
            StandardError.report("\(programPath): \(error)", program: "emu-user")
            throw ExitCode(127)
        }
        process.emulatorPath = Self.ownPath()
        process.forwardHostSignals()
        process.emulatorOptions = (strace ? ["--strace"] : []) + (backend.map { ["--backend", $0] } ?? [])
        if let decode {
            Self.disassemble(at: decode, in: process)
            return
        }
        if strace { process.trace = { StandardError.print($0) } }
        if traceBlocks {
            let cpu = process.cpu
            process.executor.blockTrace = { pc in
                StandardError.print("block 0x\(String(pc, radix: 16)) rax=\(String(cpu[gpr: 0], radix: 16)) rsp=\(String(cpu[gpr: 4], radix: 16))")
            }
        }
        process.run().endHostProcess()
    }

    /// Our environment, less the `-U` names, plus the `-E` assignments.
    private func guestEnvironment() -> [String] {
        var environment: [String] = []
        var entry = environ
        while let p = entry.pointee {
            environment.append(String(cString: p))
            entry += 1
        }
        func remove(_ name: Substring) { environment.removeAll { $0.hasPrefix(name + "=") } }
        for name in unset { remove(Substring(name)) }
        for assignment in set {
            if let eq = assignment.firstIndex(of: "=") { remove(assignment[..<eq]) }
            environment.append(assignment)
        }
        return environment
    }

    /// Our own executable, for guest execve.
    private static func ownPath() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Prints 40 decoded instructions from `address` of the loaded program on standard error.
    private static func disassemble(at address: UInt64, in process: LinuxProcess) {
        var pc = address
        for _ in 0..<40 {
            do {
                let insn = try Decoder().decode(at: pc) { process.memory.fetch($0) }
                StandardError.print("\(String(pc, radix: 16)) [\(insn.length)] \(insn.mnemonic) size=\(insn.operandSize) \(insn.operands)")
                pc = insn.nextAddress
            } catch {
                StandardError.print("\(String(pc, radix: 16)) \(error)")
                break
            }
        }
    }
}
