// libFuzzer's entry points, shared by the harnesses (each fuzz script compiles Fuzz/Shared/*.swift
// with its harness). A harness provides `fuzzOne(_:)` (one input; traps on a violated property),
// `seedInputs()` (its corpus seeds) and `seedCorpusVariable` (the environment variable that asks
// for the seeds to be written).
#if canImport(Glibc)
import Glibc
#endif

/// When the environment variable `variable` names a directory, writes each seed there (file
/// name, bytes) and exits the process: how a harness regenerates its committed corpus
/// (`scripts/fuzz-… --write-seeds`). Does nothing otherwise.
func writeSeedCorpusIfAsked(by variable: String, _ seeds: () -> [(String, [UInt8])]) {
    guard let directory = getenv(variable).map({ String(cString: $0) }) else { return }
    let inputs = seeds()
    for (name, bytes) in inputs {
        guard let file = fopen(directory + "/" + name, "wb") else {
            print("cannot create \(directory)/\(name)")
            exit(1)
        }
        _ = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, file) }
        fclose(file)
    }
    print("wrote \(inputs.count) seeds to \(directory)")
    exit(0)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    fuzzOne(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

/// With `seedCorpusVariable`=DIR in the environment, writes ``seedInputs()`` into DIR and exits
/// (how a committed corpus is made: `scripts/fuzz-… --write-seeds`).
@_cdecl("LLVMFuzzerInitialize")
public func initialize(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> CInt {
    writeSeedCorpusIfAsked(by: seedCorpusVariable, seedInputs)
    return 0
}
