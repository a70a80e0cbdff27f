import ArgumentParser
import BlockLayer
#if canImport(Glibc)
import Glibc
#endif

/// `emu-img info [-f FMT] [--backing-chain] FILE`.
struct Info: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show an image's format, sizes and backing file.")

    @Option(name: .short, help: "Image format (probed if omitted).") var format: ImageFormat?
    @Flag(name: .customLong("backing-chain"), help: "Also show every image of the backing chain.") var backingChain = false
    @Argument(help: "The image file.") var file: String

    func run() async throws {
        try await runReportingErrors {
            let top = try await ImageOpener.open(path: file, format: format, readOnly: true)
            let nodes = backingChain ? ImageOpener.chain(top) : [top]
            for (index, node) in nodes.enumerated() {
                if index > 0 { print("") }
                describe(node)
            }
        }
    }

    private func describe(_ node: BlockNode) {
        print("image: \(node.name)")
        print("file format: \(node.driver.formatName)")
        print("virtual size: \(humanSize(node.length)) (\(node.length) bytes)")
        var status = stat()
        if stat(node.name, &status) == 0 { print("disk size: \(humanSize(UInt64(status.st_blocks) * 512))") }
        guard let qcow2 = node.driver as? Qcow2FormatDriver else { return }
        let header = qcow2.openedHeader
        print("cluster_size: \(header.clusterSize)")
        if let backing = header.backingFile {
            print("backing file: \(backing)")
            if let format = header.backingFormat { print("backing file format: \(format)") }
        }
        print("Format specific information:")
        print("    compat: \(header.version == 2 ? "0.10" : "1.1")")
        print("    refcount bits: \(1 << header.refcountOrder)")
        print("    corrupt: \(header.isMarkedCorrupt)")
        if header.isDirty { print("    dirty: true") }
    }
}

/// `1.5 GiB`-style sizes as qemu-img prints them.
func humanSize(_ bytes: UInt64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    if unit == 0 { return "\(bytes) B" }
    let rounded = (value * 100).rounded() / 100
    return "\(rounded) \(units[unit])"
}
