/// The host-code back end: compiles an `IRBlock` to x86-64 machine code (see ARCHITECTURE.md,
/// "The host-code back end"). `compile` returns nil for a block holding an op it does not
/// handle; the caller then uses the closure compiler for the whole block.
///
/// A block runs with the fixed registers the entry routine of `HostCodeCache` loads and leaves
/// through that cache's exit routine with a status (`HostRunContext`). Guest state is written at
/// the IR's points, so after a fault it is what the closure back end leaves.
struct HostBlockCompiler {
    let memory: GuestAddressSpace

    /// The block's generated code (not yet placed in a code buffer).
    struct Output {
        var code: [UInt8]
        /// The direct exits' jumps: (buffer offset of the rel32 field, buffer offset of the stub
        /// it jumps to until patched).
        var patchSites: [(Int, Int)]
        /// Closure steps the code calls, numbered from the `stepBase` given to `compile`.
        var steps: [CompiledStep]
    }

    // Fixed registers while a block runs.
    static let state = HostRegister.r12
    static let temps = HostRegister.r13
    static let window = HostRegister.r14
    static let pageTable = HostRegister.r15
    static let words = HostRegister.rbx

    /// Builds the closure-back-end step of an op the host compiler does not compile natively;
    /// the generated code calls it through `HostRoutines.step`.
    let fallbackStep: (IROp) -> CompiledStep

    /// Whether the host compiler emits `op` as machine code (else it calls `fallbackStep(op)`).
    static func compilesNatively(_ op: IROp) -> Bool {
        switch op {
        case .helper(.rotateWithoutFlags(_, let size), let args, let result, _):
            return args.count == 2 && result != nil && [1, 2, 4, 8].contains(size)
        case .helper:
            return false
        case .unary(let u, _, _):
            switch u {
            case .popCount, .countTrailingZeros, .countLeadingZeros: return false
            default: return true
            }
        case .load(_, _, let size, _), .store(_, _, let size, _):
            return size == 1 || size == 2 || size == 4 || size == 8
        case .getZeroExtended(_, _, let size):
            return size == 1 || size == 2 || size == 4
        case .setFlags(_, let size, _, _, _), .setFlagsIf(_, _, let size, _, _, _):
            return size == 1 || size == 2 || size == 4 || size == 8
        default:
            return true
        }
    }

    /// Machine code for `block` placed at buffer offset `origin`, leaving through the exit
    /// routine at `exitRoutine`; ops it does not compile natively become calls of fallback
    /// steps numbered from `stepBase` (returned in `Output.steps`). Nil for an exception exit
    /// or more temps than `tempCapacity`.
    func compile(_ block: IRBlock, tempCapacity: Int, origin: Int, exitRoutine: Int, stepBase: Int) -> Output? {
        guard block.tempCount <= tempCapacity else { return nil }
        var exitTemps: [IRTemp] = []
        switch block.exit {
        case .branch(let c, _, _): exitTemps = [c]
        case .indirect(let t): exitTemps = [t]
        case .exception: return nil
        default: break
        }
        var e = Emitter(memory: memory, allocation: TempAllocation(ops: block.ops, tempCount: block.tempCount, exitTemps: exitTemps),
                        origin: origin, exitRoutine: exitRoutine)
        var steps: [CompiledStep] = []
        for (i, op) in block.ops.enumerated() {
            e.index = i
            if Self.compilesNatively(op) {
                e.emit(op)
            } else {
                e.emitStep(op, index: stepBase + steps.count)
                steps.append(fallbackStep(op))
            }
        }
        e.index = block.ops.count
        e.emitExit(block.exit, start: block.start)
        e.emitOutOfLine()
        guard let code = e.a.finish() else { return nil }
        var sites: [(Int, Int)] = []
        for (field, stub) in e.sites {
            guard let stubOffset = e.a.offset(of: stub) else { return nil }
            sites.append((origin + field, origin + stubOffset))
        }
        return Output(code: code, patchSites: sites, steps: steps)
    }
}

/// The code generation of one block.
private struct Emitter {
    let memory: GuestAddressSpace
    let allocation: TempAllocation
    var a = X86Assembler()
    var index = 0
    /// (op, size) of the flags this block recorded last, while still known statically.
    var knownFlags: (ConditionCodeOp, Int)?
    let routineFault: HostLabel
    let generalProtection: HostLabel
    /// Buffer offsets of this code and of the exit routine.
    let origin: Int
    let exitRoutine: Int
    /// Out-of-line code emitted after the block's exit.
    var slowPaths: [(inout Emitter) -> Void] = []
    /// Patchable direct exits: (rel32 field offset in this code, the stub label).
    var sites: [(Int, HostLabel)] = []

    typealias C = HostBlockCompiler
    typealias W = HostRunContext

    init(memory: GuestAddressSpace, allocation: TempAllocation, origin: Int, exitRoutine: Int) {
        self.memory = memory
        self.allocation = allocation
        self.origin = origin
        self.exitRoutine = exitRoutine
        routineFault = a.label()
        generalProtection = a.label()
    }

    func word(_ n: Int) -> HostMemory { HostMemory(C.words, Int32(n * 8)) }

    /// `jmp` to the exit routine with `status` in RAX.
    mutating func leave(_ status: UInt64) {
        a.movImmediate(.rax, status)
        a.byte(0xE9)
        let field = a.offset
        a.imm(Int64(exitRoutine - (origin + field + 4)), size: 4)
    }

    /// A direct exit to guest `target`: the checks that make it return to the run loop (a
    /// forced exit, the mailbox's attention byte, and on backward jumps the interrupt word),
    /// then a patchable jump that goes to the stub until the run loop links it.
    mutating func directExit(_ target: UInt64, backward: Bool) {
        let stub = a.label()
        exitChecks(interrupt: backward, scratch: .rax, otherwise: stub)
        let field = a.jmp(stub)
        sites.append((field, stub))
        slowPaths.append { e in
            e.a.bind(stub)
            e.a.movImmediate(.rax, target)
            e.a.mov(e.word(W.nextPCWord), .rax)
            e.a.movImmediate(.rax, UInt64(e.origin + field))
            e.a.mov(e.word(W.patchSiteWord), .rax)
            e.leave(W.statusDirect)
        }
    }

    /// The checks before following a chain: a forced exit, the mailbox's attention byte (a stop
    /// request or a posted code change), and when `interrupt` is set the interrupt word; any of
    /// them set jumps to `otherwise`. Uses `scratch`.
    mutating func exitChecks(interrupt: Bool, scratch: HostRegister, otherwise: HostLabel) {
        a.alu(.cmp, word(W.forceExitWord), immediate: 0)
        a.jcc(.notEqual, otherwise)
        a.mov(scratch, word(W.attentionAddressWord))
        a.test(HostMemory(scratch), immediate: -1, size: 1)
        a.jcc(.notEqual, otherwise)
        if interrupt {
            a.mov(scratch, word(W.interruptAddressWord))
            a.alu(.cmp, HostMemory(scratch), immediate: 0)
            a.jcc(.notEqual, otherwise)
        }
    }

    /// An indirect exit (jump, call or return) to the guest PC in `t`: after the exit checks
    /// (the interrupt word included, since a guest can loop through indirect jumps alone), the
    /// PC's entry in the lookup table (`IndirectLookupTable`) is compared with the PC and the
    /// current mode; a match jumps to the block's host code, anything else returns to the run
    /// loop with the PC in word 3.
    mutating func indirectExit(_ t: IRTemp) {
        let miss = a.label()
        load(.rax, t)
        a.mov(word(W.nextPCWord), .rax)
        exitChecks(interrupt: true, scratch: .rcx, otherwise: miss)
        a.mov(.rcx, .rax)
        a.shift(.shr, .rcx, immediate: 12)
        a.alu(.xor, .rcx, .rax)
        a.alu(.and, .rcx, immediate: Int32(IndirectLookupTable.entryCount - 1), size: 4)
        a.shift(.shl, .rcx, immediate: 5) // × 32 bytes per entry
        let entry = { (word: Int) in
            HostMemory(base: C.words, index: .rcx, displacement: Int32(W.lookupOffset + word * 8))
        }
        a.alu(.cmp, .rax, entry(0))
        a.jcc(.notEqual, miss)
        a.mov(.rdx, word(W.modeWord))
        a.alu(.cmp, .rdx, entry(1))
        a.jcc(.notEqual, miss)
        a.alu(.add, word(W.indirectHitsWord), immediate: 1)
        a.mov(.rcx, entry(2))
        a.jmp(.rcx)
        a.bind(miss)
        leave(W.statusIndirect)
    }

    mutating func emitExit(_ exit: IRExit, start: UInt64) {
        switch exit {
        case .jump(let target):
            directExit(target, backward: target <= start)
        case .branch(let c, let taken, let notTaken):
            let notTakenLabel = a.label()
            let r = register(c, scratch: .rax)
            a.test(r, r)
            a.jcc(.equal, notTakenLabel)
            directExit(taken, backward: taken <= start)
            a.bind(notTakenLabel)
            directExit(notTaken, backward: notTaken <= start)
        case .indirect(let t):
            indirectExit(t)
        case .syscall(let at, let next):
            a.movImmediate(.rax, at)
            a.mov(word(W.syscallPCWord), .rax)
            a.movImmediate(.rax, next)
            a.mov(word(W.nextPCWord), .rax)
            leave(W.statusSyscall)
        case .exception:
            break // not compiled (see `compile`)
        }
    }

    /// The fault exits and the slow paths, after the block's exit.
    mutating func emitOutOfLine() {
        a.bind(routineFault)
        leave(W.statusRoutineFault)
        a.bind(generalProtection)
        leave(W.statusGeneralProtection)
        var i = 0
        while i < slowPaths.count {
            let path = slowPaths[i]
            path(&self)
            i += 1
        }
    }

    /// An op the closure back end runs: its operands go to their temp slots, the step is
    /// called with (temps, state), a raised exception leaves through the fault exit, and the
    /// result comes back from its slot. The step may change any guest state, flags included.
    mutating func emitStep(_ op: IROp, index stepIndex: Int) {
        var result: IRTemp?
        switch op {
        case .helper(_, _, let r, _): result = r
        case .unary(_, let d, _): result = d
        default: result = nil
        }
        for t in op.mentionedTemps where t != result {
            if case .register(let r) = allocation.location(t) { a.mov(HostMemory(C.temps, Int32(t.index) * 8), r) }
        }
        call(HostRoutines.step, excluding: result) { e in
            e.a.mov(.rdi, C.words)
            e.a.movImmediate(.rsi, UInt64(stepIndex))
            e.a.mov(.rdx, C.state)
            e.a.mov(.rcx, C.temps)
        }
        a.alu(.cmp, word(W.statusWord), immediate: 0)
        a.jcc(.notEqual, routineFault)
        if let result, case .register(let r) = allocation.location(result) {
            a.mov(r, HostMemory(C.temps, Int32(result.index) * 8))
        }
        knownFlags = nil
    }

    // MARK: operands

    func slotMemory(_ slot: Int) -> HostMemory { HostMemory(C.state, Int32(slot * 8)) }

    /// Loads temp `t` into `r`.
    mutating func load(_ r: HostRegister, _ t: IRTemp) {
        switch allocation.location(t) {
        case .register(let src): if src != r { a.mov(r, src) }
        case .slot(let n): a.mov(r, HostMemory(C.temps, Int32(n * 8)))
        }
    }

    /// Stores `r` into temp `t`.
    mutating func store(_ t: IRTemp, _ r: HostRegister) {
        switch allocation.location(t) {
        case .register(let dst): if dst != r { a.mov(dst, r) }
        case .slot(let n): a.mov(HostMemory(C.temps, Int32(n * 8)), r)
        }
    }

    /// The register holding `t`, loading it into `scratch` when it lives in memory.
    mutating func register(_ t: IRTemp, scratch: HostRegister) -> HostRegister {
        if case .register(let r) = allocation.location(t) { return r }
        load(scratch, t)
        return scratch
    }

    // MARK: calls

    /// Calls `routine` with the argument registers already loaded by `setArguments` (which
    /// runs after live caller-saved temps are saved, so it must read temps through
    /// `argument(_:into:)`).
    mutating func call(_ routine: UInt64, excluding result: IRTemp?, setArguments: (inout Emitter) -> Void) {
        let saved = allocation.savedAcrossCall(at: index, excluding: result)
        for (n, r) in saved { a.mov(HostMemory(C.temps, Int32(n * 8)), r) }
        setArguments(&self)
        a.movImmediate(.rax, routine)
        a.call(.rax)
        for (n, r) in saved { a.mov(r, HostMemory(C.temps, Int32(n * 8))) }
    }

    /// Loads temp `t` into argument register `r` after the caller-saved temps were saved.
    mutating func argument(_ t: IRTemp, into r: HostRegister) {
        switch allocation.location(t) {
        case .register(let src) where !TempAllocation.callerSaved.contains(src): a.mov(r, src)
        default: a.mov(r, HostMemory(C.temps, Int32(t.index) * 8))
        }
    }

    // MARK: ops

    mutating func emit(_ op: IROp) {
        switch op {
        case .constant(let d, let v):
            switch allocation.location(d) {
            case .register(let r): a.movImmediate(r, v)
            case .slot(let n):
                if Int64(Int32(truncatingIfNeeded: v)) == Int64(bitPattern: v) {
                    a.mov(HostMemory(C.temps, Int32(n * 8)), immediate: Int32(truncatingIfNeeded: v))
                } else {
                    a.movImmediate(.rax, v); store(d, .rax)
                }
            }
        case .get(let d, let slot):
            if case .register(let r) = allocation.location(d) { a.mov(r, slotMemory(slot)) } else {
                a.mov(.rax, slotMemory(slot)); store(d, .rax)
            }
        case .getZeroExtended(let d, let slot, let size):
            if size == 4 { a.mov(.rax, slotMemory(slot), size: 4) } else { a.movzx(.rax, slotMemory(slot), from: size) }
            store(d, .rax)
        case .put(let slot, let v):
            let r = register(v, scratch: .rax)
            a.mov(slotMemory(slot), r)
        case .putZeroExtended32(let slot, let v):
            let r = register(v, scratch: .rax)
            a.mov(.rax, r, size: 4)
            a.mov(slotMemory(slot), .rax)
        case .load(let d, let address, let size, let pc):
            emitLoad(d, address, size, pc)
        case .store(let address, let value, let size, let pc):
            emitStore(address, value, size, pc)
        case .checkAlignment(let address, let alignment, let pc):
            let r = register(address, scratch: .rax)
            let mask = alignment &- 1
            if mask <= 0x7FFF_FFFF {
                a.test(r, immediate: Int32(mask))
            } else {
                a.movImmediate(.rcx, mask); a.test(r, .rcx)
            }
            let fault = a.label(), back = a.label()
            a.jcc(.notEqual, fault)
            a.bind(back)
            slowPaths.append { e in
                e.a.bind(fault)
                e.a.movImmediate(.rax, pc)
                e.a.mov(HostMemory(C.words, Int32(HostRunContext.generalProtectionPCWord * 8)), .rax)
                e.a.jmp(e.generalProtection)
            }
        case .binary(let op, let d, let x, let y):
            emitBinary(op, d, x, y)
        case .binaryImmediate(let op, let d, let x, let v):
            emitBinaryImmediate(op, d, x, v)
        case .unary(let op, let d, let x):
            load(.rax, x)
            switch op {
            case .not: a.not(.rax)
            case .neg: a.neg(.rax)
            case .zeroExtend8: a.movzx(.rax, .rax, from: 1)
            case .zeroExtend16: a.movzx(.rax, .rax, from: 2)
            case .zeroExtend32: a.mov(.rax, .rax, size: 4)
            case .signExtend8: a.movsx(.rax, .rax, from: 1)
            case .signExtend16: a.movsx(.rax, .rax, from: 2)
            case .signExtend32: a.movsx(.rax, .rax, from: 4)
            case .byteSwap32: a.bswap(.rax, size: 4)
            case .byteSwap64: a.bswap(.rax, size: 8)
            case .popCount, .countTrailingZeros, .countLeadingZeros: break // a fallback step (see `compilesNatively`)
            }
            store(d, .rax)
        case .select(let d, let c, let x, let y):
            load(.rax, y)
            let rx = register(x, scratch: .rcx)
            let rc = register(c, scratch: .rdx)
            a.test(rc, rc)
            a.cmov(.notEqual, .rax, rx)
            store(d, .rax)
        case .setFlags(let op, let size, let dst, let src, let src2):
            emitSetFlags(op, size, dst, src, src2)
            knownFlags = (op, size)
        case .setFlagsIf(let when, let op, let size, let dst, let src, let src2):
            let skip = a.label()
            let rw = register(when, scratch: .rax)
            a.test(rw, rw)
            a.jcc(.equal, skip)
            emitSetFlags(op, size, dst, src, src2)
            a.bind(skip)
            knownFlags = nil
        case .flags(let d):
            call(HostRoutines.flags, excluding: d) { e in e.a.mov(.rdi, C.state) }
            store(d, .rax)
        case .condition(let d, let cc):
            emitCondition(d, cc)
        case .helper(.rotateWithoutFlags(let left, let size), let args, let result?, _) where args.count == 2:
            load(.rax, args[0])
            load(.rcx, args[1])
            a.shiftByCL(left ? .rol : .ror, .rax, size: size)
            switch size {
            case 1, 2: a.movzx(.rax, .rax, from: size)
            case 4: a.mov(.rax, .rax, size: 4)
            default: break
            }
            store(result, .rax)
        case .helper:
            break // a fallback step (see `compilesNatively`)
        }
    }

    mutating func emitSetFlags(_ op: ConditionCodeOp, _ size: Int, _ dst: IRTemp, _ src: IRTemp, _ src2: IRTemp) {
        a.mov(slotMemory(StateSlot.ccOp), immediate: Int32(op.encoded(size: size)))
        a.mov(slotMemory(StateSlot.ccDst), register(dst, scratch: .rax))
        a.mov(slotMemory(StateSlot.ccSrc), register(src, scratch: .rax))
        a.mov(slotMemory(StateSlot.ccSrc2), register(src2, scratch: .rax))
    }

    /// A condition from flags this block recorded (ADD, SUB, logic) is the host's own: the
    /// operation is redone at its size and SETcc read. Others call `LazyFlags`.
    mutating func emitCondition(_ d: IRTemp, _ cc: UInt8) {
        guard let (op, size) = knownFlags, op == .sub || op == .add || op == .logic,
              let condition = HostCondition(rawValue: cc & 15) else {
            call(HostRoutines.condition, excluding: d) { e in
                e.a.mov(.rdi, C.state)
                e.a.movImmediate(.rsi, UInt64(cc))
            }
            store(d, .rax)
            return
        }
        a.mov(.rax, slotMemory(StateSlot.ccDst))
        switch op {
        case .sub:
            a.mov(.rcx, slotMemory(StateSlot.ccSrc))
            a.alu(.add, .rax, .rcx)            // the first operand again
            a.alu(.cmp, .rax, .rcx, size: size)
        case .add:
            a.mov(.rcx, slotMemory(StateSlot.ccSrc))
            a.alu(.sub, .rax, .rcx)
            a.alu(.add, .rax, .rcx, size: size)
        default:
            a.test(.rax, .rax, size: size)
        }
        a.setcc(condition, .rax)
        a.movzx(.rax, .rax, from: 1)
        store(d, .rax)
    }

    mutating func emitBinary(_ op: IRBinaryOp, _ d: IRTemp, _ x: IRTemp, _ y: IRTemp) {
        load(.rax, x)
        let ry = register(y, scratch: .rcx)
        switch op {
        case .add: a.alu(.add, .rax, ry)
        case .sub: a.alu(.sub, .rax, ry)
        case .and: a.alu(.and, .rax, ry)
        case .or: a.alu(.or, .rax, ry)
        case .xor: a.alu(.xor, .rax, ry)
        case .shl, .shr, .sar:
            if ry != .rcx { a.mov(.rcx, ry) }
            a.shiftByCL(op == .shl ? .shl : op == .shr ? .shr : .sar, .rax)
        case .mul: a.imul(.rax, ry)
        case .mulHighUnsigned, .mulHighSigned:
            if op == .mulHighUnsigned { a.mul(ry) } else { a.imulWide(ry) }
            a.mov(.rax, .rdx)
        case .equal, .notEqual, .lessUnsigned, .lessSigned:
            a.alu(.cmp, .rax, ry)
            a.setcc(op == .equal ? .equal : op == .notEqual ? .notEqual : op == .lessUnsigned ? .below : .less, .rax)
            a.movzx(.rax, .rax, from: 1)
        }
        store(d, .rax)
    }

    mutating func emitBinaryImmediate(_ op: IRBinaryOp, _ d: IRTemp, _ x: IRTemp, _ v: UInt64) {
        let fits = Int64(Int32(truncatingIfNeeded: v)) == Int64(bitPattern: v)
        let alu: HostALU? = op == .add ? .add : op == .sub ? .sub : op == .and ? .and : op == .or ? .or : op == .xor ? .xor : nil
        let compare: HostCondition? = op == .equal ? .equal : op == .notEqual ? .notEqual
            : op == .lessUnsigned ? .below : op == .lessSigned ? .less : nil
        if op == .shl || op == .shr || op == .sar {
            load(.rax, x)
            a.shift(op == .shl ? .shl : op == .shr ? .shr : .sar, .rax, immediate: UInt8(v & 63))
            store(d, .rax)
            return
        }
        if fits, let alu {
            load(.rax, x)
            a.alu(alu, .rax, immediate: Int32(truncatingIfNeeded: v))
            store(d, .rax)
            return
        }
        if fits, op == .mul {
            let rx = register(x, scratch: .rax)
            a.imul(.rax, rx, immediate: Int32(truncatingIfNeeded: v))
            store(d, .rax)
            return
        }
        if fits, let compare {
            let rx = register(x, scratch: .rax)
            a.alu(.cmp, rx, immediate: Int32(truncatingIfNeeded: v))
            a.setcc(compare, .rax)
            a.movzx(.rax, .rax, from: 1)
            store(d, .rax)
            return
        }
        switch op {
        default:
            // The immediate through RCX, then the register form (RCX is not a temp register).
            load(.rax, x)
            a.movImmediate(.rcx, v)
            switch op {
            case .add: a.alu(.add, .rax, .rcx)
            case .sub: a.alu(.sub, .rax, .rcx)
            case .and: a.alu(.and, .rax, .rcx)
            case .or: a.alu(.or, .rax, .rcx)
            case .xor: a.alu(.xor, .rax, .rcx)
            case .mul: a.imul(.rax, .rcx)
            case .mulHighUnsigned: a.mul(.rcx); a.mov(.rax, .rdx)
            case .mulHighSigned: a.imulWide(.rcx); a.mov(.rax, .rdx)
            case .equal, .notEqual, .lessUnsigned, .lessSigned:
                a.alu(.cmp, .rax, .rcx)
                a.setcc(op == .equal ? .equal : op == .notEqual ? .notEqual : op == .lessUnsigned ? .below : .less, .rax)
                a.movzx(.rax, .rax, from: 1)
            case .shl, .shr, .sar: break // handled above
            }
            store(d, .rax)
        }
    }

    // MARK: memory

    /// The inline access check of `GuestAddressSpace.check` for the address in RAX: the whole
    /// range inside the window and both end pages allowing `need`; for stores also neither page
    /// holding translated code. Jumps to `slow` when any test fails. Uses RCX and RDX.
    mutating func emitCheck(size: Int, store: Bool, slow: HostLabel) {
        let need: Int32 = store ? 2 : 1
        if size > 1 {
            a.lea(.rcx, HostMemory(.rax, Int32(size - 1)))
            a.alu(.cmp, .rcx, .rax)
            a.jcc(.below, slow)
        } else {
            a.mov(.rcx, .rax)
        }
        a.movImmediate(.rdx, memory.size)
        a.alu(.cmp, .rcx, .rdx)
        a.jcc(.aboveOrEqual, slow)
        var pages: [HostRegister] = [.rax]
        if size > 1 { pages.append(.rcx) }
        for p in pages {
            a.mov(.rdx, p)
            a.shift(.shr, .rdx, immediate: 12)
            if store {
                a.movzx(.rdx, HostMemory(base: C.pageTable, index: .rdx), from: 1)
                a.alu(.and, .rdx, immediate: Int32(PagePermissions.write.rawValue | PagePermissions.translated.rawValue), size: 4)
                a.alu(.cmp, .rdx, immediate: need, size: 4)
                a.jcc(.notEqual, slow)
            } else {
                a.test(HostMemory(base: C.pageTable, index: .rdx), immediate: need)
                a.jcc(.equal, slow)
            }
        }
    }

    mutating func emitLoad(_ d: IRTemp, _ address: IRTemp, _ size: Int, _ pc: UInt64) {
        load(.rax, address)
        let slow = a.label(), join = a.label()
        emitCheck(size: size, store: false, slow: slow)
        let host = HostMemory(base: C.window, index: .rax)
        switch size {
        case 1, 2: a.movzx(.rax, host, from: size)
        case 4: a.mov(.rax, host, size: 4)
        default: a.mov(.rax, host)
        }
        a.bind(join)
        store(d, .rax)
        let index = self.index
        slowPaths.append { e in
            e.a.bind(slow)
            e.index = index
            e.call(HostRoutines.load, excluding: d) { e in
                e.a.mov(.rsi, .rax)
                e.a.mov(.rdi, C.words)
                e.a.movImmediate(.rdx, UInt64(size))
                e.a.movImmediate(.rcx, pc)
            }
            e.a.alu(.cmp, HostMemory(C.words, 0), immediate: 0)
            e.a.jcc(.notEqual, e.routineFault)
            e.a.jmp(join)
        }
    }

    mutating func emitStore(_ address: IRTemp, _ value: IRTemp, _ size: Int, _ pc: UInt64) {
        load(.rax, address)
        let slow = a.label(), join = a.label()
        emitCheck(size: size, store: true, slow: slow)
        let rv = register(value, scratch: .rcx)
        a.mov(HostMemory(base: C.window, index: .rax), rv, size: size)
        a.bind(join)
        let index = self.index
        slowPaths.append { e in
            e.a.bind(slow)
            e.index = index
            e.call(HostRoutines.store, excluding: nil) { e in
                e.a.mov(.rsi, .rax)
                e.argument(value, into: .rdx)
                e.a.mov(.rdi, C.words)
                e.a.movImmediate(.rcx, UInt64(size))
                e.a.movImmediate(.r8, pc)
            }
            e.a.alu(.cmp, HostMemory(C.words, 0), immediate: 0)
            e.a.jcc(.notEqual, e.routineFault)
            e.a.jmp(join)
        }
    }
}
