import ArgumentParser
import BlockLayer

/// `emu-img commit [-b BASE] [-p] [-d] FILE`.
struct Commit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy what an image holds into its backing image (or BASE further down).",
        discussion: "FILE itself is left as it is (qemu-img's -d); -d is accepted for compatibility.")

    @Option(name: .short, help: "The image to commit into (default: FILE's backing image).") var base: String?
    @Flag(name: .short, help: "Show progress.") var progress = false
    @Flag(name: .short, help: "Do not empty FILE (always the case here).") var keep = false
    @Argument(help: "The image whose data is committed.") var file: String

    func run() async throws {
        try await runJobReportingErrors {
            let top = try await ImageOpener.open(path: file, readOnly: true, backingWritable: true)
            guard let backing = top.children[.backing] else { throw BlockError.invalidArgument("'\(file)' has no backing file") }
            let target = try base.map { try chainNode(top, named: $0) } ?? backing
            let job = BlockJob(id: "commit", body: try CommitJob(top: top, base: target))
            try await runToCompletion(job, showProgress: progress)
            print("Image committed.")
        }
    }
}
