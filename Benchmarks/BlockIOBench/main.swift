// emu-block-io-bench: random 4 KiB O_DIRECT reads from one file at queue depth 1 and 32, through
// FileDriver's thread-pool engine and its Linux AIO engine, beside fio (libaio, direct) on the
// same file in the same run.
//
//   emu-block-io-bench [--quick] [--size MiB] [--seconds S] [--directory DIR]
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
    init(_ arguments: [String]) {
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            switch argument {
            case "--quick": sizeMiB = 64; seconds = 1
            case "--size": sizeMiB = rest.popFirst().flatMap(Int.init) ?? sizeMiB
            case "--seconds": seconds = rest.popFirst().flatMap(Double.init) ?? seconds
            case "--directory": directory = rest.popFirst() ?? directory
            default: FileHandle.standardError.write("unknown argument \(argument)\n".data(using: .utf8) ?? Data()); exit(2)
            }
        }
    }
}

/// Random aligned 4 KiB reads by `depth` concurrent tasks for `seconds`; reads per second.
func randomReads(node: BlockNode, depth: Int, seconds: Double) async throws -> BenchmarkSupport.Measurement {
    let blocks = node.length / 4096
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    let start = ContinuousClock.now
    let total = try await withThrowingTaskGroup(of: Int.self) { group in
        for lane in 0..<depth {
            group.addTask {
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
    var generator = SystemRandomNumberGenerator()
    for _ in 0..<options.sizeMiB {
        file.write(Data((0..<(1 << 17)).flatMap { _ in withUnsafeBytes(of: generator.next()) { Array($0) } }))
    }
    try file.synchronize()
    try file.close()
}

let thread = try IOThread(name: "bench-aio")
let engines: [(String, LinuxAIOEngine?)] = [("thread pool", nil), ("linux-aio", try LinuxAIOEngine(loop: thread.loop, depth: 64))]
print("\nRandom 4 KiB O_DIRECT reads, \(options.seconds) s per case; ratio = ours / fio (libaio, direct=1):\n")
var fioMissing = false
for depth in [1, 32] {
    let peer = fio(path: path, depth: depth, seconds: options.seconds)
    if peer == nil { fioMissing = true }
    for (name, engine) in engines {
        let node = try await BlockNode(name: "bench", driver: try FileDriver(path: path, readOnly: true, direct: true, aio: engine))
        var ours = try await randomReads(node: node, depth: depth, seconds: options.seconds)
        ours = BenchmarkSupport.Measurement(name: "\(name), depth \(depth)", operations: ours.operations, seconds: ours.seconds, unit: "ops")
        report(ours, against: peer.map { BenchmarkSupport.Measurement(name: "fio depth \(depth)", operations: $0, seconds: 1, unit: "ops") })
    }
}
if fioMissing { print("\nMISSING PEER: fio (apt-get install fio): no fio figures") }
thread.stop()
