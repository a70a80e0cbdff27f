import ArgumentParser
import BlockLayer

/// `emu-img stream [-b BASE] [-p] FILE`.
struct Stream: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy into an image what its backing chain holds (above BASE), then drop those backing images.")

    @Option(name: .short, help: "The image that stays as the backing (default: none stays).") var base: String?
    @Flag(name: .short, help: "Show progress.") var progress = false
    @Argument(help: "The image that receives the data.") var file: String

    func run() async throws {
        try await runJobReportingErrors {
            let top = try await ImageOpener.open(path: file)
            let keep = try base.map { try chainNode(top, named: $0) }
            let job = BlockJob(id: "stream", body: try StreamJob(top: top, base: keep))
            try await runToCompletion(job, showProgress: progress)
            try await top.flush()
        }
    }
}
