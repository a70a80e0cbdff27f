import ArgumentParser
import BlockLayer

/// `emu-img convert [-f FMT] -O FMT [-o cluster_size=N] [-c] [-p] [-n] [-t CACHE] IN OUT`.
struct Convert: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Copy an image (its whole backing chain) into a new image.")

    @Option(name: .short, help: "Source format (probed if omitted).") var format: ImageFormat?
    @Option(name: .customShort("O"), help: "Output format.") var outputFormat: ImageFormat = .raw
    @Option(name: .short, help: "Output options: cluster_size=N.") var options: [String] = []
    @Flag(name: .short, help: "Show progress.") var progress = false
    @Flag(name: .short, help: "Compress the output's clusters (qcow2).") var compress = false
    @Flag(name: .short, help: "Write into the existing OUT instead of creating it.") var noCreate = false
    @Option(name: .customShort("t"), help: "Output cache mode: unsafe (default, like qemu-img: no fdatasync) or writeback.")
    var cache: String = "unsafe"
    @Argument(help: "The source image.") var input: String
    @Argument(help: "The new image.") var output: String

    func run() async throws {
        var clusterSize = 65_536
        for option in options.flatMap({ $0.split(separator: ",") }) {
            let parts = option.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, parts[0] == "cluster_size" else { throw ValidationError("unknown option '\(option)'") }
            clusterSize = Int(try parseSize(parts[1]))
        }
        guard cache == "unsafe" || cache == "writeback" else { throw ValidationError("cache mode must be unsafe or writeback") }
        try await runReportingErrors {
            let source = try await ImageOpener.open(path: input, format: format, readOnly: true)
            if !noCreate {
                try await ImageCreator.create(path: output, format: outputFormat, size: source.length, clusterSize: clusterSize)
            }
            let target = try await ImageOpener.open(path: output, format: outputFormat, flushesToDisk: cache == "writeback")
            var shown = -1
            try await ImageConverter.copy(from: source, to: target, targetReadsZero: !noCreate, compress: compress) { done, total in
                guard progress else { return }
                let percent = total == 0 ? 100 : Int(done * 100 / total)
                if percent != shown {
                    shown = percent
                    print("    (\(percent).00/100%)\r", terminator: "")
                }
            }
            if progress { print("") }
        }
    }
}
