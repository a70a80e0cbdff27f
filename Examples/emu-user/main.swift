// emu-user [--strace] [--backend closure|host] [-E VAR=VALUE] PROGRAM [ARGS...]
// Runs an x86-64 Linux executable (static, static-PIE, or dynamically linked with the host's ld.so)
// under EmuTCG; the guest's stdio is ours and our exit
// status is the guest's (a guest killed by a signal kills us with the same signal).
#if canImport(Glibc)
import Glibc
#endif
import EmuLinuxUser
import EmuTCG

/// Writes to our stderr directly (the guest shares fd 2; no stdio buffering in between).
func printError(_ s: String) {
    var bytes = Array(s.utf8)
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeMutableBytes { raw -> Int in
            guard let base = raw.baseAddress else { return 0 }
            return write(2, base + done, raw.count - done)
        }
        if n <= 0 { return }
        done += n
    }
}

/// Our own executable, for guest execve.
func selfPath() -> String? {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard n > 0 else { return nil }
    return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func usage() -> Never {
    printError("usage: emu-user [--strace] [--backend closure|host] [-E VAR=VALUE]... [-U VAR]... PROGRAM [ARGS...]\n")
    exit(2)
}

var arguments = Array(CommandLine.arguments.dropFirst())
var backendOption: [String] = []
var strace = false
var traceBlocks = false
var decodeAt: UInt64? = nil
var argv0: String? = nil
var environment: [String] = []
var i = 0
var environ_: [String] = []
var ep = environ
while let p = ep.pointee { environ_.append(String(cString: p)); ep += 1 }
environment = environ_
while i < arguments.count {
    if arguments[i] == "--" { i += 1; break }
    guard arguments[i].hasPrefix("-") else { break }
    switch arguments[i] {
    case "--strace", "-strace": strace = true
    case "--trace-blocks": traceBlocks = true
    case "--backend": // the CPU back end (as EMU_TCG_BACKEND); kept for the programs it executes
        i += 1
        guard i < arguments.count, ExecutorBackend(rawValue: arguments[i]) != nil else { usage() }
        setenv("EMU_TCG_BACKEND", arguments[i], 1)
        backendOption = ["--backend", arguments[i]]
    case "--argv0":
        i += 1
        guard i < arguments.count else { usage() }
        argv0 = arguments[i]
    case "--decode":
        i += 1
        guard i < arguments.count, let a = UInt64(arguments[i], radix: 16) else { usage() }
        decodeAt = a
    case "-E":
        i += 1
        guard i < arguments.count, let eq = arguments[i].firstIndex(of: "=") else { usage() }
        let name = arguments[i][..<eq]
        environment.removeAll { $0.hasPrefix(name + "=") }
        environment.append(arguments[i])
    case "-U":
        i += 1
        guard i < arguments.count else { usage() }
        let name = arguments[i]
        environment.removeAll { $0.hasPrefix(name + "=") }
    default: usage()
    }
    i += 1
}
guard i < arguments.count else { usage() }
var guestArguments = Array(arguments[i...])
let programPath = guestArguments[0]
if let argv0 { guestArguments[0] = argv0 }

do {
    let process = try LinuxProcess(path: programPath, arguments: guestArguments, environment: environment)
    process.emulatorPath = selfPath()
    process.forwardHostSignals()
    process.emulatorOptions = (strace ? ["--strace"] : []) + backendOption
    if let decodeAt {
        var pc = decodeAt
        for _ in 0..<40 {
            do {
                let insn = try Decoder().decode(at: pc) { process.memory.fetch($0) }
                printError("\(String(pc, radix: 16)) [\(insn.length)] \(insn.mnemonic) size=\(insn.operandSize) \(insn.operands)\n")
                pc = insn.nextAddress
            } catch {
                printError("\(String(pc, radix: 16)) \(error)\n"); break
            }
        }
        exit(0)
    }
    if strace { process.trace = { printError($0 + "\n") } }
    if traceBlocks {
        let cpu = process.cpu
        process.executor.blockTrace = { pc in
            printError("block 0x\(String(pc, radix: 16)) rax=\(String(cpu[gpr: 0], radix: 16)) rsp=\(String(cpu[gpr: 4], radix: 16))\n")
        }
    }
    process.run().endHostProcess()
} catch {
    printError("emu-user: \(programPath): \(error)\n")
    exit(127)
}
