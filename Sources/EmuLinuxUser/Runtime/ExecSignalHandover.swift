#if canImport(Glibc)
import Glibc
#endif
import CEmuSystem

/// What of a guest's signal state survives execve, as Linux keeps it: the mask, the signals
/// pending (every queued instance, with its siginfo) and the actions set to SIG_IGN. A guest
/// execve executes the emulator again, so the state is handed over through the host kernel,
/// which keeps exactly these across its own execve: before it, the host thread takes the
/// guest's mask, ignores what the guest ignores and has the guest's pending signals queued on
/// itself; the new emulator adopts the host's state as its guest's (``adopt(into:)``), which
/// is also what a program started from a shell inherits.
struct ExecSignalHandover {
    private let hostMask: UInt64
    private let hostActions: [(Int32, [UInt64])]

    /// Hands `thread`'s signal state to the host thread, just before execve.
    init(_ thread: GuestThread) {
        let process = thread.process
        // Nothing reaches the host thread while the state moves.
        hostMask = HostSignals.setMask(~0)
        thread.takeHostSignals()
        // Forwarded signals the host holds pending join the guest's (SIG_IGN below would drop them).
        for instance in HostSignals.takePending(LinuxProcess.forwardedMask) { thread.handle.pending.post(instance) }
        var saved: [(Int32, [UInt64])] = []
        for signal in Int32(1)...Int32(GuestSignal.count) where signal != 9 && signal != 19 {
            guard process.action(Int(signal)).handler == 1, let old = HostSignals.action(signal) else { continue }
            saved.append((signal, old))
            HostSignals.setAction(signal, [1, 0, 0, 0])
        }
        hostActions = saved
        let blocked = thread.signalMask
        for instance in thread.handle.pending.drain() + process.pendingSignals.drain()
        where blocked & PendingSignalSet.bit(instance.signal) != 0 {
            HostSignals.queueOnSelf(instance)
        }
        HostSignals.setMask(blocked)
    }

    /// The execve failed: the host's state is put back and the pending signals return to
    /// `thread`.
    func undo(_ thread: GuestThread) {
        HostSignals.setMask(~0)
        for instance in HostSignals.takePending(~0) { thread.handle.pending.post(instance) }
        for (signal, action) in hostActions { HostSignals.setAction(signal, action) }
        HostSignals.setMask(hostMask)
    }

    /// Takes the host's signal state as the guest's initial one: the calling host thread's
    /// mask, its pending signals (taken from the host, so the guest's mask decides when they are
    /// delivered) and the signals it ignores. Then every signal the emulator does not forward is
    /// unblocked on the host again. Call on the thread that will run the initial guest thread,
    /// before `run()`.
    static func adopt(into process: LinuxProcess) {
        let thread = process.mainThread
        for signal in Int32(1)...Int32(GuestSignal.count) where signal != 9 && signal != 19 {
            if let action = HostSignals.action(signal), action[0] == 1 {
                process.signalActions.withLock { $0[Int(signal)] = GuestSignalAction(handler: 1) }
            }
        }
        let inherited = HostSignals.mask() & ~SignalSyscalls.unblockable
        let pending = HostSignals.pending()
        for instance in HostSignals.takePending(pending) { thread.handle.pending.post(instance) }
        thread.signalMask = inherited
        HostSignals.setMask(inherited & LinuxProcess.forwardedMask)
        thread.hostBlocked = inherited & LinuxProcess.forwardedMask
    }
}
