/// The work of one kind of block job (mirror, commit, stream); ``BlockJob`` runs it and owns the
/// state machine, verbs, pausing, speed and progress.
///
/// The life of a body: ``run(_:)`` does the work (calling ``BlockJob/checkpoint()`` between units
/// and doing I/O through ``BlockJob/io(bypassingPause:_:)``), then either ``commit(_:)`` makes its
/// graph changes permanent (at finalize), or ``abort(_:)`` undoes what `run` left half-done
/// (after a failure or a cancel). Exactly one of `commit` and `abort` is called, once, after `run`
/// returned or threw.
public protocol BlockJobBody: Sendable {
    /// The job type as management tools name it (`mirror`, `commit`, `stream`).
    var kind: String { get }
    /// The nodes the job reads or writes: it is a drain parent of each, so a drained section of
    /// any of them pauses it with no I/O in flight.
    var nodes: [BlockNode] { get }
    /// Does the work. Throws ``BlockJobError/cancelled`` when a checkpoint says so, or the error
    /// that made it fail.
    func run(_ job: BlockJob) async throws(BlockJobError)
    /// Makes the job's graph changes permanent (the job is pending → concluded). Throws to fail
    /// the job instead (then ``abort(_:)`` runs).
    func commit(_ job: BlockJob) async throws(BlockJobError)
    /// Cleans up after a failure or cancel.
    func abort(_ job: BlockJob) async
}

extension BlockJobBody {
    /// Nothing to make permanent, by default.
    public func commit(_ job: BlockJob) async throws(BlockJobError) {}
    /// Nothing to undo, by default.
    public func abort(_ job: BlockJob) async {}
}
