import ArgumentParser
import BlockLayer

/// `emu-img mirror [-s full|top|none] [-p] SOURCE TARGET`.
struct Mirror: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mirror an image into an existing image of the same size with the mirror job (offline).",
        discussion: "Runs the same job a running machine uses: copy, become ready, complete. With -s top only what SOURCE itself holds is copied (TARGET should have SOURCE's backing).")

    @Option(name: .short, help: "What to copy: full (default), top or none.") var sync: String = "full"
    @Flag(name: .short, help: "Show progress.") var progress = false
    @Argument(help: "The image to copy.") var source: String
    @Argument(help: "The existing image to copy into.") var target: String

    func run() async throws {
        guard let mode = MirrorJob.SyncMode(rawValue: sync) else { throw ValidationError("sync must be full, top or none") }
        try await runJobReportingErrors {
            let sourceNode = try await ImageOpener.open(path: source, readOnly: true)
            let targetNode = try await ImageOpener.open(path: target)
            let backend = try BlockBackend(name: "emu-img", node: sourceNode, readOnly: true)
            let mirror = try MirrorJob(backend: backend, target: targetNode, sync: mode)
            try await runToCompletion(BlockJob(id: "mirror", body: mirror), showProgress: progress)
            try await targetNode.flush()
        }
    }
}
