import ArgumentParser
import BlockLayer

/// `emu-img create -f raw|qcow2 [-b BACKING -F FMT] [-o cluster_size=N] FILE [SIZE]`.
struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create an image.")

    @Option(name: .short, help: "Format: raw or qcow2.") var format: ImageFormat = .raw
    @Option(name: .short, help: "Backing file (qcow2).") var backing: String?
    @Option(name: .customShort("F"), help: "Backing file format.") var backingFormat: ImageFormat?
    @Option(name: .short, help: "Options: cluster_size=N.") var options: [String] = []
    @Argument(help: "The image file.") var file: String
    @Argument(help: "Size (k, M, G, T suffixes); defaults to the backing image's size.") var size: String?

    func run() async throws {
        var clusterSize = 65_536
        for option in options.flatMap({ $0.split(separator: ",") }) {
            let parts = option.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, parts[0] == "cluster_size" else { throw ValidationError("unknown option '\(option)'") }
            clusterSize = Int(try parseSize(parts[1]))
        }
        try await runReportingErrors {
            var bytes: UInt64
            if let size { bytes = try parseSize(size) } else if let backing {
                let node = try await ImageOpener.open(path: ImageOpener.resolve(backing, relativeTo: file),
                                                      format: backingFormat, readOnly: true)
                bytes = node.length
            } else {
                throw ValidationError("a size is needed without a backing file")
            }
            try await ImageCreator.create(path: file, format: format, size: bytes, clusterSize: clusterSize,
                                          backingFile: backing, backingFormat: backingFormat)
            print("Formatting '\(file)', fmt=\(format.rawValue) size=\(bytes)")
        }
    }
}
