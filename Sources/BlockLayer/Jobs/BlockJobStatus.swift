/// Where a block job is in its life (the states of QEMU's job model, which management tools know).
///
/// ```
/// created ─► running ◄─► paused
///               │  └───► ready ◄─► standby
///               ▼          │
///            waiting ◄─────┘        any of created…pending ─► aborting ─► concluded
///               ▼                                                  │
///            pending ─► concluded ─► null                           ▼
/// ```
public enum BlockJobStatus: String, Sendable, CaseIterable {
    /// Made, not started.
    case created
    /// Working.
    case running
    /// Paused by a user (or a drained section) before it was ready.
    case paused
    /// Converged: a mirror's target equals its source and is kept so until `complete`.
    case ready
    /// Paused while ready.
    case standby
    /// Its work is done; waiting for the other jobs of its transaction (none here: passes through).
    case waiting
    /// Waiting for `finalize` (only when not finalized automatically).
    case pending
    /// Failing or cancelled; cleaning up.
    case aborting
    /// Finished (see ``BlockJob/failure``); waiting for `dismiss` unless dismissed automatically.
    case concluded
    /// Dismissed; gone.
    case null

    /// The states this one may move to.
    public var successors: Set<BlockJobStatus> {
        switch self {
        case .created: [.running, .aborting]
        case .running: [.paused, .ready, .waiting, .aborting]
        case .paused: [.running, .aborting]
        case .ready: [.standby, .waiting, .aborting]
        case .standby: [.ready, .aborting]
        case .waiting: [.pending, .aborting]
        case .pending: [.concluded, .aborting]
        case .aborting: [.concluded]
        case .concluded: [.null]
        case .null: []
        }
    }
}

/// What a user can ask of a job; each is allowed only in some states (``allowed(in:)``).
public enum BlockJobVerb: String, Sendable, CaseIterable {
    case cancel, pause, resume, complete, finalize, dismiss, setSpeed = "set-speed"

    /// Whether the verb is accepted in `status`.
    public func allowed(in status: BlockJobStatus) -> Bool {
        switch self {
        case .cancel: [.created, .running, .paused, .ready, .standby, .waiting, .pending].contains(status)
        case .pause, .resume, .setSpeed: [.created, .running, .paused, .ready, .standby].contains(status)
        case .complete: status == .ready
        case .finalize: status == .pending
        case .dismiss: status == .concluded
        }
    }
}

/// Why a job verb was refused, or why a job failed.
public enum BlockJobError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `verb` is not allowed while the job is in `status`.
    case verbNotAllowed(BlockJobVerb, status: BlockJobStatus)
    /// `resume` without a matching `pause`.
    case notPaused
    /// A negative or otherwise invalid argument to a verb.
    case invalidArgument(String)
    /// The job was cancelled before it finished its work.
    case cancelled
    /// The job's I/O failed.
    case io(BlockError)

    public var description: String {
        switch self {
        case .verbNotAllowed(let verb, let status): return "job verb '\(verb.rawValue)' is not allowed in state '\(status.rawValue)'"
        case .notPaused: return "job is not paused"
        case .invalidArgument(let what): return what
        case .cancelled: return "job was cancelled"
        case .io(let error): return "job I/O failed: \(error)"
        }
    }
}
