import ArgumentParser
import BlockLayer

/// `emu-img map [-f FMT] FILE`: one line per run: start, length, the chain depth that holds it,
/// and whether it is data or zeroes.
struct Map: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show which layer of a chain holds each range.")

    @Option(name: .short, help: "Image format (probed if omitted).") var format: ImageFormat?
    @Argument(help: "The image file.") var file: String

    func run() async throws {
        try await runReportingErrors {
            let top = try await ImageOpener.open(path: file, format: format, readOnly: true)
            print("start length depth kind")
            var offset: UInt64 = 0
            var current: (start: UInt64, length: UInt64, depth: Int, kind: String)? = nil
            while offset < top.length {
                var node = top, depth = 0
                var status = try await node.blockStatus(at: offset, length: top.length - offset)
                while status.allocation == .unallocated, let backing = node.children[.backing], offset < backing.length {
                    node = backing
                    depth += 1
                    status = try await node.blockStatus(at: offset, length: min(status.length, backing.length - offset))
                }
                let kind = status.allocation == .data ? "data" : "zero"
                if let run = current, run.depth == depth, run.kind == kind, run.start + run.length == offset {
                    current?.length += status.length
                } else {
                    if let run = current { print("\(run.start) \(run.length) \(run.depth) \(run.kind)") }
                    current = (offset, status.length, depth, kind)
                }
                offset += status.length
            }
            if let run = current { print("\(run.start) \(run.length) \(run.depth) \(run.kind)") }
        }
    }
}
