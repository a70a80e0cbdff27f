// Shared by the libFuzzer harnesses (each script compiles Fuzz/Shared/*.swift with its harness).
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
