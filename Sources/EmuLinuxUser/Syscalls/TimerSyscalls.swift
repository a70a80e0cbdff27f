/// setitimer and alarm: the host's own timers (the emulator's CPU time is the guest's, so
/// ITIMER_VIRTUAL and ITIMER_PROF count the right thing), armed only when host signals are
/// forwarded to the guest (`LinuxProcess.forwardHostSignals()`, as `emu-user` does): otherwise
/// the SIGALRM, SIGVTALRM or SIGPROF would take its default action on the embedding process, so
/// the guest gets ENOSYS. getitimer only reads and passes through unconditionally.
enum TimerSyscalls {
    static func arm(_ p: GuestThread, _ a: SyscallArgs, number: Int) -> Int64 {
        guard p.process.forwardsHostSignals, let entry = SyscallTable.byNumber[number] else { return -LinuxErrno.ENOSYS }
        return SyscallTable.passThrough(entry, a, p)
    }

    static func setitimer(_ p: GuestThread, _ a: SyscallArgs) -> Int64 { arm(p, a, number: 38) }
    static func alarm(_ p: GuestThread, _ a: SyscallArgs) -> Int64 { arm(p, a, number: 37) }
}
