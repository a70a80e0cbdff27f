import ArgumentParser
import BlockLayer

/// Runs a block job to its end for the offline commands (`commit`, `stream`, `mirror`): starts
/// it, shows progress with `-p`, completes it when it becomes ready, and throws its failure.
func runToCompletion(_ job: BlockJob, showProgress: Bool) async throws {
    try job.start()
    var shown = -1
    while true {
        let status = job.status
        if showProgress {
            let (done, total) = job.progress
            let percent = total == 0 ? 0 : Int(min(done, total) * 100 / total)
            if percent != shown {
                shown = percent
                print("    (\(percent).00/100%)\r", terminator: "")
            }
        }
        if status == .ready { try? job.complete() }
        if status == .concluded || status == .null { break }
        try await Task.sleep(for: .milliseconds(20))
    }
    if showProgress { print("    (100.00/100%)") }
    if let failure = job.failure { throw failure }
}

/// The node in `top`'s chain whose file is `path`, for `-b`.
func chainNode(_ top: BlockNode, named path: String) throws -> BlockNode {
    guard let node = ImageOpener.backingNode(of: top, path: path) else {
        throw ValidationError("'\(path)' is not in the backing chain of '\(top.name)'")
    }
    return node
}

/// Runs `body`, turning a `BlockError` or a `BlockJobError` into a message and exit status 1.
func runJobReportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await runReportingErrors(body)
    } catch let error as BlockJobError {
        complain("\(error)")
        throw ExitCode(1)
    }
}
