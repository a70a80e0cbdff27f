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
/// drops that page's blocks.
///
/// Threads: each guest thread has its own executor (and CPU state) over the shared address
/// space. The block cache is per executor, so lookups, chaining and retiring need no lock; a
/// code change made by any thread is posted to every executor's `mailbox`, and each executor
/// drops the page's blocks at its next block boundary, before running another block (the
/// mailbox word is the one atomic load per block a stop flag costs anyway). A cache shared by
/// all threads would translate each block once, but would need a lock or lock-free structure on
/// every miss and chain update, and a grace period before freeing invalidated blocks.
/// Not `Sendable`: one vCPU thread owns an executor; other threads talk to it through `mailbox`.
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
    /// How other threads stop this executor or tell it of code changes.
    public var mailbox: ExecutorMailbox { stop.mailbox }
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
    /// The back end this executor compiles with.
    public let backend: ExecutorBackend
    /// Of `translatedBlocks`, those the host-code back end compiled (the rest are closures).
    public private(set) var hostCompiledBlocks = 0
    /// Host code buffer flushes (statistics).
    public var codeBufferFlushes: Int { hostCache?.buffer.flushes ?? 0 }
    /// Direct jumps patched between host-code blocks (statistics).
    public var hostLinks: Int { hostCache?.links ?? 0 }
    /// Indirect jumps, calls and returns of host code that found their block in the lookup
    /// table (statistics).
    public var indirectLookupHits: UInt64 { hostCache?.context.indirectHits ?? 0 }
    /// Indirect exits of host code that returned to the run loop: a lookup miss, or a check
    /// (stop, posted code change, interrupt word, forced exit) before the probe (statistics).
    public private(set) var indirectLookupMisses: UInt64 = 0
    /// This executor's statistics so far (see `ExecutorStatistics`).
    var counts: ExecutorStatistics.Counts {
        ExecutorStatistics.Counts(
            blocksTranslated: UInt64(translatedBlocks), hostBlocks: UInt64(hostCompiledBlocks),
            codeBufferFlushes: UInt64(codeBufferFlushes), chainLinks: UInt64(hostLinks),
            indirectHits: indirectLookupHits, indirectMisses: indirectLookupMisses,
            helperCalls: hostCache?.context.helperCalls ?? 0, slowMemoryCalls: hostCache?.context.slowMemoryCalls ?? 0)
    }
    /// What this executor has added to `ExecutorStatistics.shared` so far.
    var reportedCounts = ExecutorStatistics.Counts()
    /// Nil for the closure back end, and after a forked child could not renew its code buffer.
    var hostCache: HostCodeCache?
    var codeBuffer: CodeBuffer? { hostCache?.buffer }

    /// An executor for `cpu` over `memory`; it installs itself as the memory's code-write observer.
    /// `backend` chooses the back end (by default `EMU_TCG_BACKEND`, else closures); when the
    /// host will not give a code buffer the executor uses closures.
    public init(cpu: CPUState, memory: GuestAddressSpace, maximumBlockInstructions: Int = 64,
                backend: ExecutorBackend = .fromEnvironment) {
        self.cpu = cpu
        self.memory = memory
        translator = Translator(maximumInstructions: maximumBlockInstructions)
        compiler = BlockCompiler(memory: memory, stop: stop)
        let closures = compiler
        if backend == .host,
           let cache = try? HostCodeCache(memory: memory, capacity: Self.codeBufferCapacity, fallbackStep: { closures.step($0) }) {
            self.backend = .host
            hostCache = cache
        } else {
            self.backend = .closure
            hostCache = nil
        }
        tempCapacity = 4096
        temps = UnsafeMutablePointer<UInt64>.allocate(capacity: tempCapacity)
        temps.initialize(repeating: 0, count: tempCapacity)
        memory.addCodeObserver(mailbox)
    }

    deinit {
        memory.removeCodeObserver(mailbox)
        temps.deallocate()
    }

    /// Asks `run` to return `.stopRequested` at the next block boundary (or REP iteration).
    /// Thread-safe.
    public func requestStop() { stop.mailbox.requestStop() }

    /// Drops every block translated from `page`.
    public func invalidate(page: UInt64) {
        guard let starts = blocksByPage.removeValue(forKey: page) else { return }
        generation &+= 1
        for pc in starts {
            if let block = blocks.removeValue(forKey: pc) {
                if let entry = block.hostEntry {
                    hostCache?.unlink(entry: entry)
                    hostCache?.context.lookup.drop(pc: pc)
                }
                retired.append(block)
            }
        }
    }

    /// Drops every translated block.
    public func invalidateAll() {
        generation &+= 1
        hostCache?.unlinkAll()
        hostCache?.context.lookup.clear()
        retired.append(contentsOf: blocks.values)
        blocks.removeAll()
        blocksByPage.removeAll()
    }

    func block(at pc: UInt64) -> CompiledBlock {
        if let b = blocks[pc] { return b }
        let ir = translator.translate(at: pc) { memory.fetch($0) }
        let compiled: CompiledBlock
        if let host = hostCompiled(ir) {
            compiled = host
            hostCompiledBlocks += 1
        } else if ir.tempCount > tempCapacity {
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

    /// Bytes of host code each executor may hold before it flushes its blocks.
    static let codeBufferCapacity = 16 << 20

    /// `ir` compiled to host code (flushing every block first when the code buffer is full),
    /// or nil when the host back end is off or does not handle the block.
    func hostCompiled(_ ir: IRBlock) -> CompiledBlock? {
        guard let hostCache else { return nil }
        // A flush happens here, in the run loop between blocks: nothing runs in the buffer.
        guard let entry = hostCache.compile(ir, tempCapacity: tempCapacity, flush: { invalidateAll() }) else { return nil }
        return CompiledBlock(start: ir.start, end: ir.end, instructionCount: ir.instructionCount, body: { _, _ in },
                             exit: ir.exit, hostEntry: entry)
    }

    /// Runs from the current RIP until a SYSCALL, an exception, a stop request, or (when given)
    /// `blockBudget` blocks have run (then `.stopRequested` with RIP at the next block).
    public func run(blockBudget: Int = .max) -> StopReason {
        defer {
            if ExecutorStatistics.enabled {
                let now = counts
                ExecutorStatistics.shared.add(now - reportedCounts)
                reportedCounts = now
            }
        }
        retired.removeAll()
        if let cache = hostCache, cache.needsRenewal {
            // A forked child: the parent's code is not inherited (see `CodeBuffer`); renew the
            // buffer (forgetting its links) before dropping the blocks.
            if !cache.renewAfterFork() { hostCache = nil }
            invalidateAll()
        }
        let s = cpu.slots
        let t = temps
        // Chained host code returns to this loop after every block while a budget is counted
        // or blocks are traced.
        hostCache?.context.prepare(attention: stop.mailbox.attention.address, interrupt: stop.interruptWord,
                                   forceExit: blockBudget != .max || blockTrace != nil)
        unowned(unsafe) var current = block(at: s[StateSlot.rip])
        var budget = blockBudget
        while true {
            budget -= 1
            if budget < 0 {
                s[StateSlot.rip] = current.start
                return .stopRequested
            }
            let attention = stop.mailbox.attention.loadAcquiring()
            if attention != 0 {
                if attention & ExecutorMailbox.invalidationBit != 0 {
                    for page in stop.mailbox.takePages() { invalidate(page: page) }
                    current = block(at: current.start)
                }
                if attention & ExecutorMailbox.stopBit != 0 {
                    stop.mailbox.attention.clearRelaxed(ExecutorMailbox.stopBit)
                    s[StateSlot.rip] = current.start
                    return .stopRequested
                }
            }
            if let word = stop.interruptWord, word.pointee != 0 {
                s[StateSlot.rip] = current.start
                return .stopRequested
            }
            if let blockTrace { blockTrace(current.start) }
            if let entry = current.hostEntry, let cache = hostCache {
                let status = cache.run(state: s, temps: t, entry: entry)
                let w = cache.context.words
                switch status {
                case HostRunContext.statusDirect:
                    let site = w[HostRunContext.patchSiteWord]
                    let flushes = cache.buffer.flushes
                    let b = block(at: w[HostRunContext.nextPCWord])
                    if let target = b.hostEntry, cache.buffer.flushes == flushes, site != .max {
                        cache.link(site: Int(site), to: target)
                    }
                    current = b
                case HostRunContext.statusIndirect:
                    indirectLookupMisses &+= 1
                    let b = block(at: w[HostRunContext.nextPCWord])
                    // `b` is in the block cache now (a flush inside `block(at:)` ran before it
                    // was compiled), so its entry is valid until it is dropped from the cache.
                    if let target = b.hostEntry { cache.fillLookup(pc: b.start, entry: target) }
                    current = b
                case HostRunContext.statusSyscall:
                    s[StateSlot.rip] = w[HostRunContext.nextPCWord]
                    return .syscall(at: w[HostRunContext.syscallPCWord])
                default:
                    let error = cache.context.takeException(status: status)
                    s[StateSlot.rip] = error.pc
                    if case .interrupted = error {
                        stop.mailbox.attention.clearRelaxed(ExecutorMailbox.stopBit)
                        return .stopRequested
                    }
                    return .exception(error)
                }
                continue
            }
            do {
                try current.body(t, s)
            } catch {
                s[StateSlot.rip] = error.pc
                if case .interrupted = error {
                    stop.mailbox.attention.clearRelaxed(ExecutorMailbox.stopBit)
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
