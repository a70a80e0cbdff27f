// emu-user-bench: emu-user beside qemu-x86_64 (Debian qemu-user) and the native run, in one run.
// Usage: emu-user-bench [--quick] [--emu-user PATH]
//
// Workloads (the issue's): busybox md5sum of 32 MiB, busybox gzip -c of 32 MiB, a busybox sh
// loop of 100,000 iterations, a CPU-bound C program and an SSE floating-point one (every
// arithmetic operation and conversion goes through the MXCSR-exact host SSE path) compiled here
// with gcc -static; and dynamically linked host programs (/bin/true: the dynamic loader's start
// alone; coreutils md5sum of the same input; ls -lR of /usr/lib/x86_64-linux-gnu). Each is
// run once per runner (they take seconds to minutes under emulation), emu-user once per back end
// (EMU_TCG_BACKEND=closure, =host); the figure is wall-clock seconds, and the ratios are
// emu-user's time over qemu-x86_64's (both back ends) and the host back end's over native.
// --quick: 4 MiB, 10,000 iterations, a shorter C program.
import BenchmarkSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments
let quick = arguments.contains("--quick")
func option(_ name: String) -> String? {
    guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count else { return nil }
    return arguments[i + 1]
}
let emuUser = option("--emu-user") ?? URL(fileURLWithPath: arguments[0]).deletingLastPathComponent().appendingPathComponent("emu-user").path
let busybox = "/bin/busybox"
let qemu = ["/usr/bin/qemu-x86_64", "/usr/bin/qemu-x86_64-static"].first { FileManager.default.isExecutableFile(atPath: $0) }

func fail(_ message: String) -> Never {
    FileHandle.standardError.write((message + "\n").data(using: .utf8) ?? Data())
    exit(1)
}
guard FileManager.default.isExecutableFile(atPath: emuUser) else { fail("emu-user not found at \(emuUser) (build it: swift build -c release --product emu-user)") }
guard FileManager.default.isExecutableFile(atPath: busybox) else { fail("MISSING PEER: \(busybox) (apt-get install busybox-static)") }
guard let qemu else { fail("MISSING PEER: qemu-x86_64 (apt-get install qemu-user)") }
guard FileManager.default.isExecutableFile(atPath: "/usr/bin/gcc") else { fail("MISSING PEER: gcc (apt-get install gcc libc6-dev)") }

let work = FileManager.default.temporaryDirectory.appendingPathComponent("emu-user-bench-\(getpid())")
try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: work) }

// 32 MiB (4 MiB quick) of text-like data: compressible, like a real gzip input.
let size = quick ? 4 << 20 : 32 << 20
var data = [UInt8](repeating: 0, count: size)
var state: UInt64 = 0x2545F4914F6CDD1D
let words = ["emulator", "translation", "block", "guest", "host", "register", "flags", "memory", "page", "syscall", " ", "\n"].map { Array($0.utf8) }
var at = 0
while at < size {
    state ^= state << 13; state ^= state >> 7; state ^= state << 17
    let w = words[Int(state % UInt64(words.count))]
    for b in w where at < size { data[at] = b; at += 1 }
    if at < size { data[at] = 0x20; at += 1 }
}
let input = work.appendingPathComponent("input.txt").path
FileManager.default.createFile(atPath: input, contents: Data(data))

// The CPU-bound program: integer hashing, a sieve and a small matrix product.
let iterations = quick ? 3_000_000 : 30_000_000
let source = """
#include <stdio.h>
#include <stdint.h>
#include <string.h>
static unsigned char sieve[1 << 20];
int main(void) {
    uint64_t h = 1469598103934665603ull, x = 88172645463325252ull;
    for (long i = 0; i < \(iterations); i++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; h = (h ^ (x & 0xff)) * 1099511628211ull; }
    memset(sieve, 1, sizeof sieve);
    long primes = 0;
    for (long i = 2; i < (long)sizeof sieve; i++) if (sieve[i]) { primes++; for (long j = i * 2; j < (long)sizeof sieve; j += i) sieve[j] = 0; }
    double m[64][64], r[64][64];
    for (int i = 0; i < 64; i++) for (int j = 0; j < 64; j++) m[i][j] = (i * 31 + j) % 17 / 7.0;
    for (int i = 0; i < 64; i++) for (int j = 0; j < 64; j++) { double s = 0; for (int k = 0; k < 64; k++) s += m[i][k] * m[k][j]; r[i][j] = s; }
    printf("%llx %ld %.6f\\n", (unsigned long long)h, primes, r[5][7]);
    return 0;
}
"""
let sourcePath = work.appendingPathComponent("cpu.c").path
let cpuProgram = work.appendingPathComponent("cpu").path
FileManager.default.createFile(atPath: sourcePath, contents: source.data(using: .utf8))

// SSE floating point: a small n-body step (add, sub, mul, div, sqrt) and conversions.
let steps = quick ? 20_000 : 200_000
let floatSource = """
#include <math.h>
#include <stdio.h>
int main(void) {
    double x[5] = {0, 1, -1, 2, 0.5}, y[5] = {0, 0.5, 1, -1, 2}, vx[5] = {0}, vy[5] = {0}, m[5] = {10, 1, 1, 0.5, 0.1};
    long checksum = 0;
    for (long s = 0; s < \(steps); s++) {
        for (int i = 0; i < 5; i++) for (int j = 0; j < 5; j++) if (i != j) {
            double dx = x[j] - x[i], dy = y[j] - y[i], d2 = dx * dx + dy * dy + 0.01, inv = m[j] / (d2 * sqrt(d2));
            vx[i] += dx * inv * 1e-4; vy[i] += dy * inv * 1e-4;
        }
        for (int i = 0; i < 5; i++) { x[i] += vx[i] * 1e-3; y[i] += vy[i] * 1e-3; }
        checksum += (long)(x[1] * 1000) + (int)(float)y[2];
    }
    printf("%.9f %.9f %ld\\n", x[1], y[2], checksum);
    return 0;
}
"""
let floatSourcePath = work.appendingPathComponent("float.c").path
let floatProgram = work.appendingPathComponent("float").path
_ = FileManager.default.createFile(atPath: floatSourcePath, contents: floatSource.data(using: .utf8))

/// Runs a command with stdout to a file; returns (seconds, exit status, output).
func run(_ command: [String], backend: String? = nil) throws -> (Double, Int32, Data) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: command[0])
    process.arguments = Array(command.dropFirst())
    if let backend {
        var environment = ProcessInfo.processInfo.environment
        environment["EMU_TCG_BACKEND"] = backend
        process.environment = environment
    }
    let outPath = work.appendingPathComponent("out").path
    FileManager.default.createFile(atPath: outPath, contents: nil)
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    process.standardOutput = out
    process.standardInput = FileHandle.nullDevice
    let start = ContinuousClock.now
    try process.run()
    process.waitUntilExit()
    let elapsed = ContinuousClock.now - start
    try out.close()
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return (seconds, process.terminationStatus, FileManager.default.contents(atPath: outPath) ?? Data())
}

let (_, gccStatus, _) = try run(["/usr/bin/gcc", "-static", "-O2", "-o", cpuProgram, sourcePath])
let (_, gccFloatStatus, _) = try run(["/usr/bin/gcc", "-static", "-O2", "-o", floatProgram, floatSourcePath, "-lm"])
guard gccStatus == 0, gccFloatStatus == 0 else { fail("gcc -static failed (apt-get install gcc libc6-dev)") }

let loops = quick ? 10_000 : 100_000
let workloads: [(String, [String])] = [
    ("busybox md5sum \(size >> 20) MiB", [busybox, "md5sum", input]),
    ("busybox gzip -c \(size >> 20) MiB", [busybox, "sh", "-c", "\(busybox) gzip -c \(input) | \(busybox) wc -c"]),
    ("busybox sh loop \(loops)", [busybox, "sh", "-c", "i=0; while [ $i -lt \(loops) ]; do i=$((i+1)); done; echo $i"]),
    ("C program (gcc -static -O2)", [cpuProgram]),
    ("C SSE floating point \(steps / 1000)k", [floatProgram]),
    // Dynamically linked host programs: ld.so's loading and relocation, then the work.
    ("dynamic true (ld.so start)", ["/bin/true"]),
    ("dynamic md5sum \(size >> 20) MiB", ["/usr/bin/md5sum", input]),
    ("dynamic ls -lR of a lib dir", ["/bin/ls", "-lR", "/usr/lib/x86_64-linux-gnu"]),
]

print("emu-user-bench: wall-clock seconds, one run each; emu-user on each back end (EMU_TCG_BACKEND);")
print("ratio = emu-user time / peer time (lower is better)")
print("  " + "workload".padding(toLength: 30, withPad: " ", startingAt: 0) + "native".leftPad(9) + "qemu".leftPad(9)
      + "closure".leftPad(9) + "host".leftPad(9) + "clo/qemu".leftPad(10) + "host/qemu".leftPad(11)
      + "host/native".leftPad(13))
for (name, command) in workloads {
    let native = try run(command)
    let emulatedByQemu = try run([qemu] + command)
    let closure = try run([emuUser] + command, backend: "closure")
    let host = try run([emuUser] + command, backend: "host")
    let same = [closure, host].allSatisfy { native.2 == $0.2 && native.1 == $0.1 } && native.2 == emulatedByQemu.2
    print("  " + name.padding(toLength: 30, withPad: " ", startingAt: 0)
          + String(format: "%9.3f%9.3f%9.3f%9.3f%10.1f%11.1f%13.1f", native.0, emulatedByQemu.0, closure.0, host.0,
                   closure.0 / emulatedByQemu.0, host.0 / emulatedByQemu.0, host.0 / native.0)
          + (same ? "" : "   OUTPUT DIFFERS"))
}
