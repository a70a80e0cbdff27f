/// setitimer and alarm: the host's own timers (the emulator's CPU time is the guest's, so
/// ITIMER_VIRTUAL and ITIMER_PROF count the right thing), armed only when host signals are
/// forwarded to the guest (`LinuxProcess.forwardHostSignals()`, as `emu-user` does): otherwise
/// the SIGALRM, SIGVTALRM or SIGPROF would take its default action on the embedding process, so
/// the guest gets ENOSYS. getitimer only reads and passes through unconditionally.
///
/// POSIX timers (timer_create and friends) are the host's too, under the same condition, and
/// only with a notification the emulator turns into a guest signal: SIGEV_NONE, or SIGEV_SIGNAL
/// and SIGEV_THREAD_ID (to a thread of this process) with one of the forwarded signals. The
/// guest's handler sees SI_USER, not SI_TIMER with the sigev_value.
enum TimerSyscalls {
    static func arm(_ p: GuestThread, _ a: SyscallArgs, number: Int) -> Int64 {
        guard p.process.forwardsHostSignals, let entry = SyscallTable.byNumber[number] else { return -LinuxErrno.ENOSYS }
        return SyscallTable.passThrough(entry, a, p)
    }

    static func setitimer(_ p: GuestThread, _ a: SyscallArgs) -> Int64 { arm(p, a, number: 38) }
    static func alarm(_ p: GuestThread, _ a: SyscallArgs) -> Int64 { arm(p, a, number: 37) }

    static let SIGEV_SIGNAL: Int32 = 0, SIGEV_NONE: Int32 = 1, SIGEV_THREAD_ID: Int32 = 4

    /// timer_create(clockid, sevp, timerid): EINVAL for a notification or signal the emulator
    /// could not forward (SIGEV_THREAD is glibc's, which the kernel sees as SIGEV_THREAD_ID with
    /// its own signal), EFAULT for an unreadable sigevent, ENOSYS without forwarding.
    static func timerCreate(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        guard p.process.forwardsHostSignals, let entry = SyscallTable.byNumber[222] else { return -LinuxErrno.ENOSYS }
        if a[1] != 0 { // NULL means SIGEV_SIGNAL with SIGALRM, which is forwarded
            guard let raw = p.memory.read(a[1], count: 64) else { return -LinuxErrno.EFAULT }
            func int32(_ o: Int) -> Int32 { Int32(bitPattern: (0..<4).reduce(UInt32(0)) { $0 | UInt32(raw[o + $1]) << (8 * UInt32($1)) }) }
            let signal = int32(8), notify = int32(12), tid = int32(16)
            switch notify {
            case SIGEV_NONE:
                break
            case SIGEV_SIGNAL, SIGEV_THREAD_ID:
                guard LinuxProcess.forwardedSignals.contains(signal) else { return -LinuxErrno.EINVAL }
                if notify == SIGEV_THREAD_ID && p.process.thread(tid: tid) == nil { return -LinuxErrno.EINVAL }
            default:
                return -LinuxErrno.EINVAL
            }
        }
        return SyscallTable.passThrough(entry, a, p)
    }
}
