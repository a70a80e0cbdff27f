/// What generated code shares with Swift while it runs: a few words it reads and writes
/// (`rbx` points at them) and the guest exception a called routine raised.
///
/// Words: [0] non-zero when a called routine raised an exception (kept in `pending`);
/// [1] this object's unretained address, for the routines generated code calls;
/// [2] the guest PC of a #GP raised by the generated code itself; [3] the guest PC to go on at
/// when the code returns to the run loop; [4] the code-buffer offset of the jump to patch to
/// that PC's block (or all ones); [5] the PC of a SYSCALL; [6] non-zero to make every block
/// return instead of following a chain; [7] the address of the mailbox's attention byte;
/// [8] the address of the interrupt word (or of word 9, always zero); [10] the guest window's
/// host base; [11] the page table's address; [12] the translation mode the executor runs in
/// (the second half of a lookup key); [13] indirect jumps that found their block in the lookup
/// table (statistics); [14], [15] unused. From word 16 on: the indirect-branch lookup table
/// (`IndirectLookupTable`), addressed from `rbx` like the words.
/// Not `Sendable`: it belongs to one executor's thread.
final class HostRunContext {
    let words: UnsafeMutablePointer<UInt64>
    /// The indirect-branch lookup table, inside the same allocation as `words`.
    let lookup: IndirectLookupTable
    let memory: GuestAddressSpace
    var pending: GuestException?
    /// Closure steps generated code calls by number (ops it does not compile natively); kept
    /// until the code buffer is emptied.
    var steps: [CompiledStep] = []
    /// Closure steps called from host code (statistics).
    var helperCalls: UInt64 = 0
    /// Memory accesses that took the checked slow path (statistics).
    var slowMemoryCalls: UInt64 = 0

    static let statusWord = 0
    static let selfWord = 1
    static let generalProtectionPCWord = 2
    static let nextPCWord = 3
    static let patchSiteWord = 4
    static let syscallPCWord = 5
    static let forceExitWord = 6
    static let attentionAddressWord = 7
    static let interruptAddressWord = 8
    static let zeroWord = 9
    static let windowWord = 10
    static let pageTableWord = 11
    static let modeWord = 12
    static let indirectHitsWord = 13
    static let wordCount = 16
    /// Byte offset of the lookup table from `words`.
    static let lookupOffset = wordCount * 8

    /// Status returned by generated code: a called routine raised `pending`.
    static let statusRoutineFault: UInt64 = 1
    /// Status: #GP at the PC in word 2.
    static let statusGeneralProtection: UInt64 = 2
    /// Status: continue at word 3, patching the jump at word 4 to that block when it is host code.
    static let statusDirect: UInt64 = 3
    /// Status: continue at word 3 (an indirect jump).
    static let statusIndirect: UInt64 = 4
    /// Status: SYSCALL at word 5, continue at word 3.
    static let statusSyscall: UInt64 = 5

    init(memory: GuestAddressSpace) {
        self.memory = memory
        let total = Self.wordCount + IndirectLookupTable.entryCount * IndirectLookupTable.entryWords
        words = UnsafeMutablePointer<UInt64>.allocate(capacity: total)
        words.initialize(repeating: 0, count: total)
        lookup = IndirectLookupTable(entries: words + Self.wordCount)
        lookup.clear()
        words[Self.modeWord] = Self.userMode64
        words[Self.selfWord] = UInt64(UInt(bitPattern: Unmanaged.passUnretained(self).toOpaque()))
        words[Self.interruptAddressWord] = UInt64(UInt(bitPattern: words + Self.zeroWord))
        words[Self.attentionAddressWord] = UInt64(UInt(bitPattern: words + Self.zeroWord))
        words[Self.windowWord] = UInt64(UInt(bitPattern: memory.base))
        words[Self.pageTableWord] = UInt64(UInt(bitPattern: memory.pageTable))
    }

    /// Points the generated code's checks at this run's attention byte and interrupt word.
    func prepare(attention: UInt, interrupt: UnsafePointer<UInt64>?, forceExit: Bool) {
        words[Self.attentionAddressWord] = UInt64(attention)
        words[Self.interruptAddressWord] = UInt64(UInt(bitPattern: interrupt ?? UnsafePointer(words + Self.zeroWord)))
        words[Self.forceExitWord] = forceExit ? 1 : 0
    }

    /// The translation mode of 64-bit user mode, the only one an executor runs in so far (blocks
    /// are cached by PC alone); a lookup entry matches only under the mode it was filled in.
    static let userMode64: UInt64 = 0

    /// Indirect jumps that went straight to their block through the lookup table.
    var indirectHits: UInt64 { words[Self.indirectHitsWord] }

    deinit { words.deallocate() }

    /// The context whose words are at `words` (generated code passes them to the routines).
    static func from(_ words: UnsafeMutablePointer<UInt64>) -> HostRunContext? {
        guard let raw = UnsafeRawPointer(bitPattern: UInt(words[selfWord])) else { return nil }
        return Unmanaged<HostRunContext>.fromOpaque(raw).takeUnretainedValue()
    }

    /// The exception a block that returned `status` raised, with the record cleared.
    func takeException(status: UInt64) -> GuestException {
        words[Self.statusWord] = 0
        if status == Self.statusGeneralProtection { return .generalProtection(pc: words[Self.generalProtectionPCWord]) }
        defer { pending = nil }
        return pending ?? .generalProtection(pc: words[Self.generalProtectionPCWord])
    }
}

/// The Swift routines generated code calls (System V ABI, no Swift context): checked memory
/// accesses for the slow path, and the lazy-flag evaluation.
enum HostRoutines {
    typealias Load = @convention(c) (UnsafeMutablePointer<UInt64>, UInt64, UInt64, UInt64) -> UInt64
    typealias Store = @convention(c) (UnsafeMutablePointer<UInt64>, UInt64, UInt64, UInt64, UInt64) -> Void
    typealias Step = @convention(c) (UnsafeMutablePointer<UInt64>, UInt64, UnsafeMutablePointer<UInt64>,
                                     UnsafeMutablePointer<UInt64>) -> Void
    typealias Flags = @convention(c) (UnsafeMutablePointer<UInt64>) -> UInt64
    typealias Condition = @convention(c) (UnsafeMutablePointer<UInt64>, UInt64) -> UInt64

    /// (words, address, size, pc) → the loaded value, or 0 with the fault recorded.
    static var load: UInt64 {
        let f: Load = { words, address, size, pc in
            guard let context = HostRunContext.from(words) else { return 0 }
            context.slowMemoryCalls &+= 1
            do throws(GuestException) {
                return try context.memory.load(address, size: Int(size), pc: pc)
            } catch {
                context.pending = error
                words[HostRunContext.statusWord] = 1
                return 0
            }
        }
        return UInt64(UInt(bitPattern: unsafeBitCast(f, to: UnsafeRawPointer.self)))
    }

    /// (words, address, value, size, pc); a fault is recorded.
    static var store: UInt64 {
        let f: Store = { words, address, value, size, pc in
            guard let context = HostRunContext.from(words) else { return }
            context.slowMemoryCalls &+= 1
            do throws(GuestException) {
                try context.memory.store(address, value, size: Int(size), pc: pc)
            } catch {
                context.pending = error
                words[HostRunContext.statusWord] = 1
            }
        }
        return UInt64(UInt(bitPattern: unsafeBitCast(f, to: UnsafeRawPointer.self)))
    }

    /// (words, step number, state, temps): runs a closure step; a raised exception is recorded.
    static var step: UInt64 {
        let f: Step = { words, index, state, temps in
            guard let context = HostRunContext.from(words), index < UInt64(context.steps.count) else { return }
            context.helperCalls &+= 1
            do throws(GuestException) {
                try context.steps[Int(index)](temps, state)
            } catch {
                context.pending = error
                words[HostRunContext.statusWord] = 1
            }
        }
        return UInt64(UInt(bitPattern: unsafeBitCast(f, to: UnsafeRawPointer.self)))
    }

    /// (state) → the arithmetic flags.
    static var flags: UInt64 {
        let f: Flags = { state in LazyFlags.compute(state) }
        return UInt64(UInt(bitPattern: unsafeBitCast(f, to: UnsafeRawPointer.self)))
    }

    /// (state, cc) → 1 when the condition holds.
    static var condition: UInt64 {
        let f: Condition = { state, cc in LazyFlags.condition(UInt8(truncatingIfNeeded: cc), state) ? 1 : 0 }
        return UInt64(UInt(bitPattern: unsafeBitCast(f, to: UnsafeRawPointer.self)))
    }
}
