import Synchronization

/// Why `Executor.run` returned.
public enum StopReason: Sendable, Equatable {
    /// The guest executed SYSCALL at `at`; RIP is already the next instruction.
    case syscall(at: UInt64)
    /// The guest raised an exception; RIP is the faulting instruction (after it for #BP).
    case exception(GuestException)
    /// `requestStop()` was called (checked between blocks).
    case stopRequested
}

/// Runs guest code: looks up or translates the block at RIP, runs it, follows chained
/// successors, and returns on SYSCALL, an exception or a stop request.
///
/// Blocks are cached by (guest PC, mode flags); the only mode so far is 64-bit user mode, so the
/// key is the PC. A write to a page that holds translated code (or losing its execute permission)
/// drops that page's blocks. Not `Sendable`: one vCPU thread owns an executor; only
/// `requestStop` may be called from other threads (it sets an atomic flag).
public final class Executor {
    public let cpu: CPUState
    public let memory: GuestAddressSpace
    let translator: Translator
    let compiler: BlockCompiler
    var blocks: [UInt64: CompiledBlock] = [:]
    /// Blocks dropped by invalidation while a run may still be inside one of them; freed when
    /// the next run starts.
    var retired: [CompiledBlock] = []
    /// Bumped by every invalidation; chains recorded under an older generation are not followed.
    var generation: UInt64 = 0
    var blocksByPage: [UInt64: [UInt64]] = [:]
    let temps: UnsafeMutablePointer<UInt64>
    var tempCapacity: Int
    let stop = StopRequest()
    /// A word that something else (a host signal handler) sets non-zero to make `run` return
    /// `.stopRequested` at the next block boundary, or at the next iteration of a REP string
    /// instruction (RIP then at that instruction, RCX/RSI/RDI describing what is left); read,
    /// never written, by the executor.
    public var interruptWord: UnsafePointer<UInt64>? {
        get { stop.interruptWord }
        set { stop.interruptWord = newValue }
    }
    /// Called with each block's guest address before it runs (debugging; slows execution).
    public var blockTrace: ((UInt64) -> Void)?
    /// Blocks translated so far (statistics).
    public private(set) var translatedBlocks = 0

    /// An executor for `cpu` over `memory`; it installs itself as the memory's code-write observer.
    public init(cpu: CPUState, memory: GuestAddressSpace, maximumBlockInstructions: Int = 64) {
        self.cpu = cpu
        self.memory = memory
        translator = Translator(maximumInstructions: maximumBlockInstructions)
        compiler = BlockCompiler(memory: memory, stop: stop)
        tempCapacity = 4096
        temps = UnsafeMutablePointer<UInt64>.allocate(capacity: tempCapacity)
        temps.initialize(repeating: 0, count: tempCapacity)
        memory.codeModified = { [weak self] page in self?.invalidate(page: page) }
    }

    deinit { temps.deallocate() }

    /// Asks `run` to return `.stopRequested` at the next block boundary (or REP iteration).
    /// Thread-safe.
    public func requestStop() { stop.requested.store(true, ordering: .releasing) }

    /// Drops every block translated from `page`.
    public func invalidate(page: UInt64) {
        guard let starts = blocksByPage.removeValue(forKey: page) else { return }
        generation &+= 1
        for pc in starts {
            if let block = blocks.removeValue(forKey: pc) { retired.append(block) }
        }
    }

    /// Drops every translated block.
    public func invalidateAll() {
        generation &+= 1
        retired.append(contentsOf: blocks.values)
        blocks.removeAll()
        blocksByPage.removeAll()
    }

    func block(at pc: UInt64) -> CompiledBlock {
        if let b = blocks[pc] { return b }
        let ir = translator.translate(at: pc) { memory.fetch($0) }
        let compiled: CompiledBlock
        if ir.tempCount > tempCapacity {
            // Cannot happen with bounded blocks (each instruction uses well under 64 temps), but
            // stay safe: run it one instruction per block instead.
            let small = Translator(maximumInstructions: 1).translate(at: pc) { memory.fetch($0) }
            compiled = compiler.compile(small)
        } else {
            compiled = compiler.compile(ir)
        }
        blocks[pc] = compiled
        translatedBlocks += 1
        let firstPage = pc >> 12, lastPage = (compiled.end &- 1) >> 12
        var page = firstPage
        while true {
            blocksByPage[page, default: []].append(pc)
            if page >= lastPage { break }
            page += 1
        }
        return compiled
    }

    /// Runs from the current RIP until a SYSCALL, an exception, a stop request, or (when given)
    /// `blockBudget` blocks have run (then `.stopRequested` with RIP at the next block).
    public func run(blockBudget: Int = .max) -> StopReason {
        retired.removeAll()
        let s = cpu.slots
        let t = temps
        unowned(unsafe) var current = block(at: s[StateSlot.rip])
        var budget = blockBudget
        while true {
            budget -= 1
            if budget < 0 {
                s[StateSlot.rip] = current.start
                return .stopRequested
            }
            if stop.isPending {
                stop.requested.store(false, ordering: .relaxed)
                s[StateSlot.rip] = current.start
                return .stopRequested
            }
            if let blockTrace { blockTrace(current.start) }
            do {
                try current.body(t, s)
            } catch {
                s[StateSlot.rip] = error.pc
                if case .interrupted = error {
                    stop.requested.store(false, ordering: .relaxed)
                    return .stopRequested
                }
                return .exception(error)
            }
            let next: UInt64
            switch current.exit {
            case .jump(let target):
                if current.takenGeneration == generation, let c = current.chainTaken { current = c; continue }
                let b = block(at: target)
                current.chainTaken = b
                current.takenGeneration = generation
                current = b
                continue
            case .branch(let cond, let taken, let notTaken):
                if t[Int(cond)] != 0 {
                    if current.takenGeneration == generation, let c = current.chainTaken { current = c; continue }
                    let b = block(at: taken)
                    current.chainTaken = b
                    current.takenGeneration = generation
                    current = b
                } else {
                    if current.notTakenGeneration == generation, let c = current.chainNotTaken { current = c; continue }
                    let b = block(at: notTaken)
                    current.chainNotTaken = b
                    current.notTakenGeneration = generation
                    current = b
                }
                continue
            case .indirect(let temp):
                next = t[Int(temp)]
            case .syscall(let at, let after):
                s[StateSlot.rip] = after
                return .syscall(at: at)
            case .exception(let e):
                s[StateSlot.rip] = e.pc
                return .exception(e)
            }
            current = block(at: next)
        }
    }
}
