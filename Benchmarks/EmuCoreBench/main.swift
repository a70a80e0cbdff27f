// emu-core-bench: EmuCore's figures beside their physical limit or plain-library peer, in one
// run. Usage: emu-core-bench [--quick]   (--quick runs a tenth of the work, for smoke tests)

let quick = CommandLine.arguments.contains("--quick")
let scale = quick ? 0.1 : 1.0

print("emu-core-bench (\(quick ? "quick" : "full") run): figures are the best of several repeats;")
print("ratio = ours / peer, for rates (1.00 = as fast as the peer).\n")
do {
    try runMemoryBenchmarks(scale: scale)
} catch {
    print("memory benchmarks failed: \(error)")
}
print("")
runLoopBenchmarks(scale: scale)
