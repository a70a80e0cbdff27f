// emu-block-io-bench: random 4 KiB O_DIRECT reads from one file at queue depth 1 and 32, through
// FileDriver's thread-pool engine and its Linux AIO engine, beside fio (libaio, direct) on the
// same file in the same run.
//
//   emu-block-io-bench [--quick] [--size MiB] [--seconds S] [--directory DIR] [--mirror-only]
//
// Then a mirror job copying the file into a new raw file (through a device backend, as a
// running machine would, with the default 64 KiB granularity and 16 copies of up to 1 MiB in
// flight), beside `cp` of the same file. Both flush to disk at the end (cp via sync -f).
//
// The file (default 256 MiB in /var/tmp) is filled with random bytes first, so reads hit real
// blocks, and removed at the end. Ratios are ours / fio. Without fio the peer column says so.
import BenchmarkSupport
import BlockLayer
import EmuCore
import Foundation

struct Options {
    var sizeMiB = 256
    var seconds = 3.0
    var directory = "/var/tmp"
    var mirrorOnly = false
    init(_ arguments: [String]) {
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            switch argument {
            case "--quick": sizeMiB = 64; seconds = 1
            case "--size": sizeMiB = rest.popFirst().flatMap(Int.init) ?? sizeMiB
            case "--seconds": seconds = rest.popFirst().flatMap(Double.init) ?? seconds
            case "--directory": directory = rest.popFirst() ?? directory
            case "--mirror-only": mirrorOnly = true
            default: FileHandle.standardError.write("unknown argument \(argument)\n".data(using: .utf8) ?? Data()); exit(2)
            }
        }
    }
}

/// Random aligned 4 KiB reads by `depth` concurrent tasks for `seconds`; reads per second.
/// With `executor`, the tasks run on it (the AIO engine's own loop: submission, completion and
/// the next submission then happen on one thread, as in an I/O thread).
func randomReads(node: BlockNode, depth: Int, seconds: Double, executor: (any TaskExecutor)? = nil) async throws -> BenchmarkSupport.Measurement {
    let blocks = node.length / 4096
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    let start = ContinuousClock.now
    let total = try await withThrowingTaskGroup(of: Int.self) { group in
        for lane in 0..<depth {
            group.addTask(executorPreference: executor) {
                var generator = SystemRandomNumberGenerator()
                let buffer = BlockBuffer(count: 4096)
                var done = 0
                _ = lane
                while ContinuousClock.now < deadline {
                    try await node.read(into: buffer, at: UInt64.random(in: 0..<blocks, using: &generator) * 4096)
                    done += 1
                }
                return done
            }
        }
        return try await group.reduce(0, +)
    }
    let elapsed = ContinuousClock.now - start
    let secondsTaken = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return BenchmarkSupport.Measurement(name: "", operations: Double(total), seconds: secondsTaken, unit: "ops")
}

/// fio's read IOPS for the same workload, or nil without fio.
func fio(path: String, depth: Int, seconds: Double) -> Double? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["fio", "--name=emu", "--filename=\(path)", "--rw=randread", "--bs=4k", "--direct=1",
                         "--ioengine=libaio", "--iodepth=\(depth)", "--runtime=\(Int(seconds.rounded(.up)))", "--time_based",
                         "--output-format=terse", "--terse-version=3"]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch { return nil }
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { return nil }
    let fields = output.split(separator: ";")
    return fields.count > 7 ? Double(fields[7]) : nil  // terse v3: field 8 is read IOPS
}

let options = Options(Array(CommandLine.arguments.dropFirst()))
let path = options.directory + "/emu-block-io-bench-\(getpid()).img"
defer { unlink(path) }
print("Filling \(options.sizeMiB) MiB of random bytes at \(path)")
do {
    guard let file = FileHandle(forWritingAtPath: path) ?? { FileManager.default.createFile(atPath: path, contents: nil); return FileHandle(forWritingAtPath: path) }() else {
        print("cannot create \(path)"); exit(1)
    }
    guard let random = FileHandle(forReadingAtPath: "/dev/urandom") else { print("cannot open /dev/urandom"); exit(1) }
    for _ in 0..<options.sizeMiB { file.write(random.readData(ofLength: 1 << 20)) }
    try file.synchronize()
    try file.close()
}

let thread = try IOThread(name: "bench-aio")
let aio = try LinuxAIOEngine(loop: thread.loop, depth: 64)
let engines: [(String, LinuxAIOEngine?, (any TaskExecutor)?)] = [
    ("thread pool", nil, nil), ("linux-aio", aio, nil), ("linux-aio, tasks on its loop", aio, thread.loop),
]
print("\nRandom 4 KiB O_DIRECT reads, \(options.seconds) s per case; ratio = ours / fio (libaio, direct=1):\n")
var fioMissing = false
for depth in options.mirrorOnly ? [] : [1, 32] {
    let peer = fio(path: path, depth: depth, seconds: options.seconds)
    if peer == nil { fioMissing = true }
    for (name, engine, executor) in engines {
        let node = try await BlockNode(name: "bench", driver: try FileDriver(path: path, readOnly: true, direct: true, aio: engine))
        var ours = try await randomReads(node: node, depth: depth, seconds: options.seconds, executor: executor)
        ours = BenchmarkSupport.Measurement(name: "\(name), depth \(depth)", operations: ours.operations, seconds: ours.seconds, unit: "ops")
        report(ours, against: peer.map { BenchmarkSupport.Measurement(name: "fio depth \(depth)", operations: $0, seconds: 1, unit: "ops") })
    }
}
/// Seconds `body` takes.
func timed(_ body: () async throws -> Void) async rethrows -> Double {
    let start = ContinuousClock.now
    try await body()
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

let copyPath = path + ".copy"
defer { unlink(copyPath) }
let bytes = Double(options.sizeMiB) * 1_048_576
print("\nMirror of \(options.sizeMiB) MiB (raw file to a new raw file, page cache warm); ratio = mirror / cp:\n")
let mirrorStart = ContinuousClock.now
let mirrorSeconds = try await timed {
    unlink(copyPath)
    try await ImageCreator.create(path: copyPath, format: .raw, size: UInt64(options.sizeMiB) << 20)
    let source = try await ImageOpener.open(path: path, readOnly: true)
    let target = try await ImageOpener.open(path: copyPath)
    let backend = try BlockBackend(name: "bench", node: source, readOnly: true)
    let job = BlockJob(id: "mirror", body: try MirrorJob(backend: backend, target: target))
    try job.start()
    await job.waitUntil { $0 == .ready || $0 == .concluded || $0 == .null }
    let readyAt = ContinuousClock.now
    try job.complete()
    defer { print("  (mirror: \(readyAt - mirrorStart) to ready, \(ContinuousClock.now - readyAt) to complete and flush)") }
    try await job.waitForConclusion()
    try await target.flush()
}
let cpSeconds = try await timed {
    unlink(copyPath)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", "cp '\(path)' '\(copyPath)' && sync -f '\(copyPath)'"]
    try process.run()
    process.waitUntilExit()
}
report(BenchmarkSupport.Measurement(name: "mirror job", operations: bytes, seconds: mirrorSeconds, unit: "bytes"),
       against: BenchmarkSupport.Measurement(name: "cp", operations: bytes, seconds: cpSeconds, unit: "bytes"))

if fioMissing { print("\nMISSING PEER: fio (apt-get install fio): no fio figures") }
thread.stop()
