/// One compiled step of a block: reads and writes temps (first pointer) and guest state
/// (second pointer); throws the guest exception of a faulting instruction.
public typealias CompiledStep = (UnsafeMutablePointer<UInt64>, UnsafeMutablePointer<UInt64>) throws(GuestException) -> Void

/// A translation block ready to run: the IR turned into pre-decoded closures (each captures its
/// operands) threaded into one call chain, so running a block decodes nothing.
public final class CompiledBlock {
    /// Guest range the block was translated from.
    public let start: UInt64
    public let end: UInt64
    public let instructionCount: Int
    /// The block's operations, threaded into one closure.
    let body: CompiledStep
    let exit: IRExit
    /// Direct successors (jump or branch targets) found on earlier runs: block chaining. Not
    /// reference-counted (following a chain must not cost a retain); each is trusted only while
    /// its generation equals the executor's, which every invalidation bumps, and the executor
    /// keeps invalidated blocks alive until no run can be inside them.
    unowned(unsafe) var chainTaken: CompiledBlock?
    unowned(unsafe) var chainNotTaken: CompiledBlock?
    var takenGeneration: UInt64 = .max
    var notTakenGeneration: UInt64 = .max
    /// For a block compiled to host code: its entry's offset in the executor's code buffer (the
    /// run loop enters it there; `body` is then unused).
    let hostEntry: Int?

    init(start: UInt64, end: UInt64, instructionCount: Int, body: @escaping CompiledStep, exit: IRExit,
         hostEntry: Int? = nil) {
        self.start = start
        self.end = end
        self.instructionCount = instructionCount
        self.body = body
        self.exit = exit
        self.hostEntry = hostEntry
    }
}
