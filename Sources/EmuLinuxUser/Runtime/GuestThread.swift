#if canImport(Glibc)
import Glibc
#endif
import CEmuSystem
import EmuTCG

/// One guest thread: its registers and executor, and the kernel state Linux keeps per thread
/// (signal mask, thread-directed pending signals, alternate signal stack, clear_child_tid,
/// robust list head). It runs
/// on one host thread: the thread inside `LinuxProcess.run()` for the initial thread, a host
/// thread of its own for every thread the guest clones.
///
/// Not `Sendable`: only its own host thread uses it; other threads reach it through its
/// `ThreadHandle`.
public final class GuestThread {
    /// The process the thread belongs to. (Unowned: the process owns its initial thread, and
    /// the host thread of every other thread keeps the process alive while it runs.)
    public unowned let process: LinuxProcess
    /// The thread's registers.
    public let cpu: CPUState
    /// The thread's executor (its own block cache over the shared address space).
    public let executor: Executor
    let handle: ThreadHandle
    /// Whether this is the thread `LinuxProcess.run()` runs.
    let isInitial: Bool
    /// In a process forked by a thread other than the one in `run()`: this thread is the whole
    /// child and ends the host process itself when it ends.
    var endsHostProcess = false

    /// The guest's signal mask (bit n-1 for signal n); mirrored where others and the safe
    /// system call path read it.
    var signalMask: UInt64 {
        didSet { publishSignalMask() }
    }
    /// Set by rt_sigreturn: the restored registers are not the system call's result.
    var keepRegistersAfterSyscall = false
    /// Set by exit: the thread ends after this system call.
    var exitStatus: Int32?
    /// set_tid_address / CLONE_CHILD_CLEARTID: zeroed and woken when the thread ends.
    var clearChildTID: UInt64 = 0
    /// sigaltstack: the thread's alternate signal stack (kept across fork, none in a new thread).
    var alternateStack = AlternateSignalStack()
    /// set_robust_list: the list head and its length (walked when the thread ends).
    var robustList: (head: UInt64, length: UInt64) = (0, 0)
    /// In a vfork child: the pipe end whose closing (on execve or exit) releases the parent.
    var vforkNotifier: Int32 = -1

    /// The guest address space (the process's).
    public var memory: GuestAddressSpace { process.memory }
    var trace: (@Sendable (String) -> Void)? { process.trace }

    init(process: LinuxProcess, cpu: CPUState, executor: Executor, signalMask: UInt64, isInitial: Bool) {
        self.process = process
        self.cpu = cpu
        self.executor = executor
        self.signalMask = signalMask
        self.isInitial = isInitial
        handle = ThreadHandle(tid: emu_gettid(), mailbox: executor.mailbox, blocked: signalMask)
    }

    /// Binds the thread to the calling host thread: its id, its interrupt word, its masks; and
    /// registers it with the process.
    func start() {
        handle.tid.store(emu_gettid(), ordering: .relaxed)
        executor.interruptWord = UnsafePointer(emu_host_pending_signals_address())
        emu_set_host_blocked_signals(ThreadHandle.kickBit, 0) // a kick always gets through
        publishSignalMask()
        process.threads.withLock { $0.append(handle) }
    }

    /// The forwarded signals this host thread blocks now (nil: not set yet).
    var hostBlocked: UInt64?

    func publishSignalMask() {
        handle.blocked.store(signalMask, ordering: .relaxed)
        emu_set_guest_blocked_signals(signalMask & ~ThreadHandle.kickBit)
        // The host mask changes only when its forwarded part does (two host calls saved on
        // every other rt_sigprocmask, which shells make around each fork).
        let forwardedBlocked = signalMask & LinuxProcess.forwardedMask
        if process.forwardsHostSignals && hostBlocked != forwardedBlocked {
            emu_set_host_blocked_signals(LinuxProcess.forwardedMask, forwardedBlocked)
            hostBlocked = forwardedBlocked
        }
    }

    /// Runs the guest until this thread exits or the group ends.
    func runLoop() {
        while exitStatus == nil && !process.exiting.load(ordering: .acquiring) {
            switch executor.run() {
            case .syscall:
                dispatchSyscall()
            case .exception(let e):
                let signal = GuestSignal.forException(e)
                trace?("--- \(LinuxProcess.signalName(signal)) {pc=0x\(String(e.pc, radix: 16))\(LinuxProcess.detail(e))} ---")
                // A synchronous fault runs the guest's handler unless it is blocked or ignored
                // (then, as on Linux, it kills the whole process).
                let blocked = signalMask & (1 << UInt64(signal - 1)) != 0
                if !blocked && SignalDelivery.hasHandler(self, signal) && SignalDelivery.deliver(self, SignalDelivery.info(for: e, memory: memory)) {
                    continue
                }
                process.exitGroup(.signaled(signal))
            case .stopRequested:
                takeHostSignals()
                deliverPendingSignals()
            }
        }
    }

    /// The thread is done: clear_child_tid is zeroed and woken (what pthread_join waits for),
    /// signals that reached this host thread are handed to the others, and the process learns
    /// that one thread fewer runs.
    func finish() {
        if process.forwardsHostSignals {
            emu_set_host_blocked_signals(LinuxProcess.forwardedMask, ~0)
            hostBlocked = LinuxProcess.forwardedMask
        }
        let stray = emu_take_host_signals() & ~ThreadHandle.kickBit & LinuxProcess.forwardedMask
        if stray != 0 && !process.exiting.load(ordering: .acquiring) {
            for signal in 1...64 where stray & (1 << UInt64(signal - 1)) != 0 { process.raise(Int32(signal), from: nil) }
        }
        RobustList.release(self)
        if clearChildTID != 0, let word = memory.hostPointer(clearChildTID, length: 4, access: .write) {
            word.storeBytes(of: 0, as: UInt32.self)
            memory.didWrite(clearChildTID, length: 4)
            _ = emu_raw_syscall(202, Int(bitPattern: word), 1 /* FUTEX_WAKE */, 1, 0, 0, 0)
            _ = emu_raw_syscall(202, Int(bitPattern: word), 129 /* FUTEX_WAKE_PRIVATE */, 1, 0, 0, 0)
        }
        process.threadEnded(handle, status: exitStatus ?? 0)
    }

    /// A host system call that may block: through the safe-syscall stub, so that neither a
    /// forwarded signal nor a kick is lost between the check and the kernel entry.
    func blockingSyscall(_ nr: Int, _ a1: Int, _ a2: Int, _ a3: Int, _ a4: Int, _ a5: Int, _ a6: Int) -> Int {
        emu_safe_syscall(nr, a1, a2, a3, a4, a5, a6)
    }

    /// Moves host signals that reached this host thread to its pending set (kicks only wake).
    /// Their siginfo is SI_USER from this process (the forwarding handler keeps no siginfo).
    func takeHostSignals() {
        var bits = emu_take_host_signals() & ~ThreadHandle.kickBit
        while bits != 0 {
            let signal = Int32(bits.trailingZeroBitCount + 1)
            bits &= bits - 1
            handle.pending.post(QueuedSignal(signal: signal, code: QueuedSignal.SI_USER, sender: LinuxProcess.ownSender))
        }
    }

    func dispatchSyscall() {
        let s = cpu.slots
        let number = s[0]
        let args = SyscallArgs(values: (s[7], s[6], s[2], s[10], s[8], s[9]))
        var result: Int64
        let entry = number < UInt64(SyscallTable.byNumber.count) ? SyscallTable.byNumber[Int(number)] : nil
        if let entry {
            switch entry.implementation {
            case .passThrough: result = SyscallTable.passThrough(entry, args, self, safe: entry.canBlock)
            case .custom(let f): result = f(self, args)
            }
        } else {
            result = -LinuxErrno.ENOSYS
        }
        takeHostSignals()
        if process.exiting.load(ordering: .acquiring) { return } // exit_group elsewhere: end now
        if let entry, entry.canBlock, result == -512 || result == -LinuxErrno.EINTR,
           restartsAfterSignal(handlerPreventsRestart: Self.notRestartedAfterHandlers.contains(entry.number)) {
            // Interrupted before or inside the kernel: run the SYSCALL again after the handler
            // (SA_RESTART), or at once when the signal has no handler to run (or it was a kick).
            trace?(StraceFormatter.line(entry: entry, number: number, args: args, result: -512, memory: memory) + " (restarted)")
            s[StateSlot.rip] &-= 2
            s[0] = number
            deliverPendingSignals()
            return
        }
        if result == -512 { result = -LinuxErrno.EINTR }
        if let trace {
            trace(StraceFormatter.line(entry: entry, number: number, args: args, result: result, memory: memory))
        }
        if keepRegistersAfterSyscall {
            keepRegistersAfterSyscall = false
        } else {
            // SYSCALL puts the return address in RCX and RFLAGS in R11.
            s[1] = s[StateSlot.rip]
            s[11] = cpu.rflags
            s[0] = UInt64(bitPattern: result)
        }
        deliverPendingSignals()
    }

    /// Calls Linux does not restart after a handler ran, even with SA_RESTART (ERESTARTNOHAND:
    /// poll, select, pselect6, ppoll, nanosleep, clock_nanosleep, epoll_wait).
    static let notRestartedAfterHandlers: Set<Int> = [7, 23, 270, 271, 35, 230, 232, 281]

    /// Signals this thread would take now: its own, then the process's, minus its mask.
    var deliverable: UInt64 {
        pendingMask & ~signalMask
    }

    /// The signal of `allowed` Linux takes next: from the thread's own pending set first, then
    /// the process's (see ``PendingSignalSet/next(in:)`` for the order within one).
    func nextPending(in allowed: UInt64) -> Int32? {
        PendingSignalSet.next(in: handle.pending.mask & allowed) ?? PendingSignalSet.next(in: process.pendingSignals.mask & allowed)
    }

    /// Signals pending for this thread: its own and the process's (not those the host holds).
    var pendingMask: UInt64 {
        handle.pending.mask | process.pendingSignals.mask
    }

    /// For an interrupted blocking call: whether it restarts (the signal to deliver has
    /// SA_RESTART, is ignored, or there is none) rather than failing with EINTR.
    func restartsAfterSignal(handlerPreventsRestart: Bool = false) -> Bool {
        let ready = deliverable
        guard ready != 0, let next = nextPending(in: ~signalMask) else { return true }
        let signal = Int(next)
        let action = process.action(signal)
        if action.handler > 1 { return !handlerPreventsRestart && action.flags & 0x1000_0000 != 0 } // SA_RESTART
        if action.handler == 1 || ProcessSyscalls.ignoredByDefault.contains(UInt64(signal)) { return true }
        return false
    }

    /// Takes the oldest instance of `signal` from this thread's pending set or else the
    /// process's; nil when there is none (another thread took the process-directed one first).
    func claim(_ signal: Int32) -> QueuedSignal? {
        handle.pending.take(signal) ?? process.pendingSignals.take(signal)
    }

    /// Whether `signal`'s action now is to ignore it (SIG_IGN, or SIG_DFL of a signal ignored
    /// by default).
    func isIgnored(_ signal: Int32) -> Bool {
        let action = process.action(Int(signal))
        return action.handler == 1 || (action.handler == 0 && ProcessSyscalls.ignoredByDefault.contains(UInt64(signal)))
    }

    /// Delivers unblocked pending signals (thread-directed first, then process-directed).
    func deliverPendingSignals() {
        while exitStatus == nil && !process.exiting.load(ordering: .acquiring) {
            guard let signal = nextPending(in: ~signalMask) else { return }
            guard let instance = claim(signal) else { continue }
            let action = process.action(Int(signal))
            if action.handler == 1 { continue }
            if action.handler == 0 {
                if ProcessSyscalls.ignoredByDefault.contains(UInt64(signal)) { continue }
                process.exitGroup(.signaled(signal))
                return
            }
            let info = SignalDelivery.Info(instance)
            trace?("--- \(LinuxProcess.signalName(signal)) {si_code=\(instance.code)} ---")
            if !SignalDelivery.deliver(self, info) { process.exitGroup(.signaled(GuestSignal.SIGSEGV)); return }
        }
    }
}
