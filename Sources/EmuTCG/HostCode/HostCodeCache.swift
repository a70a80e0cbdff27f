/// An executor's host code: the code buffer, the entry and exit routines at its start, the
/// block compiler, and the direct jumps patched between blocks (chaining).
///
/// Entering: `run(entry:)` calls the entry routine, which saves the callee-saved registers,
/// loads the fixed registers (state, temps, run context, guest window, page table) and jumps to
/// the block; blocks jump to each other through patched jumps and return through the exit
/// routine with a status (see `HostRunContext`). A block's direct exit starts as a jump to a
/// stub of its own that returns to the run loop; once the successor is host code the jump is
/// patched to the successor's entry, and `unlink` restores it when the successor is dropped.
///
/// Not `Sendable`: one executor owns it.
final class HostCodeCache {
    let buffer: CodeBuffer
    let compiler: HostBlockCompiler
    let context: HostRunContext
    private(set) var entryRoutine = 0
    private(set) var exitRoutine = 0
    /// Patched jumps into each block (by entry offset): (rel32 field offset, its stub's offset).
    var incoming: [Int: [(site: Int, stub: Int)]] = [:]
    /// The original target (stub) of every patchable jump.
    var stubs: [Int: Int] = [:]
    /// Jumps patched so far (statistics).
    private(set) var links = 0

    /// A cache of `capacity` bytes for code over `memory`.
    /// - Throws: `CodeBufferError` when the host will not map the buffer.
    init(memory: GuestAddressSpace, capacity: Int, fallbackStep: @escaping (IROp) -> CompiledStep) throws(CodeBufferError) {
        buffer = try CodeBuffer(capacity: capacity)
        compiler = HostBlockCompiler(memory: memory, fallbackStep: fallbackStep)
        context = HostRunContext(memory: memory)
        placeRoutines()
    }

    /// The entry and exit routines at the start of an empty buffer.
    private func placeRoutines() {
        let pushed: [HostRegister] = [.rbx, .rbp, .r12, .r13, .r14, .r15]
        var a = X86Assembler()
        // entry(state, temps, words, block)
        for r in pushed { a.push(r) }
        a.alu(.sub, .rsp, immediate: 8) // 16-byte alignment at calls out of blocks
        a.mov(HostBlockCompiler.state, .rdi)
        a.mov(HostBlockCompiler.temps, .rsi)
        a.mov(HostBlockCompiler.words, .rdx)
        a.mov(HostBlockCompiler.window, HostMemory(.rdx, Int32(HostRunContext.windowWord * 8)))
        a.mov(HostBlockCompiler.pageTable, HostMemory(.rdx, Int32(HostRunContext.pageTableWord * 8)))
        a.jmp(.rcx)
        let exitAt = a.offset
        // exit: RAX holds the status.
        a.alu(.add, .rsp, immediate: 8)
        for r in pushed.reversed() { a.pop(r) }
        a.ret()
        guard let code = a.finish(), let at = buffer.append(code) else { return }
        entryRoutine = at
        exitRoutine = at + exitAt
    }

    /// Compiles `ir` into the buffer and returns its entry offset, or nil when the compiler
    /// does not handle it. When the buffer is full, `flush` runs first (the caller drops every
    /// block) and the buffer starts again.
    func compile(_ ir: IRBlock, tempCapacity: Int, flush: () -> Void) -> Int? {
        for attempt in 0..<2 {
            let origin = (buffer.used + 15) & ~15
            guard let output = compiler.compile(ir, tempCapacity: tempCapacity, origin: origin, exitRoutine: exitRoutine,
                                                stepBase: context.steps.count) else {
                return nil
            }
            if let at = buffer.append(output.code) {
                guard at == origin else { return nil }
                for (site, stub) in output.patchSites { stubs[site] = stub }
                context.steps.append(contentsOf: output.steps)
                if PerfMap.enabled {
                    PerfMap.record(start: UInt(bitPattern: buffer.address(of: at)), size: output.code.count, guestPC: ir.start)
                }
                return at
            }
            guard attempt == 0 else { return nil }
            flush()
            reset()
        }
        return nil
    }

    /// In a forked child: whether the buffer still has to be renewed (see `CodeBuffer`).
    var needsRenewal: Bool { buffer.isInheritedByFork }

    /// In a forked child: a fresh buffer at the same addresses, every link forgotten; the caller
    /// drops every block first. False when the host refused (the caller stops using host code).
    func renewAfterFork() -> Bool {
        do { try buffer.renewAfterFork() } catch { return false }
        incoming.removeAll()
        stubs.removeAll()
        context.steps.removeAll()
        context.lookup.clear()
        placeRoutines()
        return true
    }

    /// Empties the buffer (nothing may run in it) and forgets every link and lookup entry.
    func reset() {
        buffer.reset()
        incoming.removeAll()
        stubs.removeAll()
        context.steps.removeAll()
        context.lookup.clear()
        placeRoutines()
    }

    /// Patches the jump whose rel32 field is at `site` to go to the block at `entry`.
    func link(site: Int, to entry: Int) {
        guard stubs[site] != nil else { return }
        write(site: site, target: entry)
        incoming[entry, default: []].append((site, stubs[site] ?? site))
        links += 1
    }

    /// Sends every jump patched to the block at `entry` back to its stub.
    func unlink(entry: Int) {
        guard let sites = incoming.removeValue(forKey: entry) else { return }
        for (site, stub) in sites { write(site: site, target: stub) }
    }

    /// Sends every patched jump back to its stub.
    func unlinkAll() {
        for entry in Array(incoming.keys) { unlink(entry: entry) }
    }

    /// Lets indirect jumps to guest `pc` go straight to the block at buffer offset `entry`
    /// (see `IndirectLookupTable` for why such an entry never outlives the block).
    func fillLookup(pc: UInt64, entry: Int) {
        context.lookup.fill(pc: pc, mode: context.words[HostRunContext.modeWord],
                            address: UInt(bitPattern: buffer.address(of: entry)))
    }

    private func write(site: Int, target: Int) {
        let rel = UInt32(truncatingIfNeeded: target - (site + 4))
        buffer.patch(at: site, (0..<4).map { UInt8(truncatingIfNeeded: rel >> (8 * UInt32($0))) })
    }

    typealias Entry = @convention(c) (UnsafeMutablePointer<UInt64>, UnsafeMutablePointer<UInt64>,
                                      UnsafeMutablePointer<UInt64>, UnsafeRawPointer) -> UInt64

    /// Runs host code from the block at `entry` until it returns; the status is one of
    /// `HostRunContext`'s.
    func run(state: UnsafeMutablePointer<UInt64>, temps: UnsafeMutablePointer<UInt64>, entry: Int) -> UInt64 {
        let f = unsafeBitCast(buffer.address(of: entryRoutine), to: Entry.self)
        return f(state, temps, context.words, buffer.address(of: entry))
    }
}
