#if canImport(Glibc)
import Glibc
#endif
import CEmuSystem
import EmuTCG
import Testing
@testable import EmuLinuxUser

/// The system calls around pending signals, on one guest thread without host signal
/// forwarding (the differential programs cover the host's part): a signal sent while blocked
/// is pending, rt_sigtimedwait takes it with its siginfo, an action set to SIG_IGN drops it.
@Suite struct PendingSignalSyscallTests {
    static let scratch: UInt64 = 0x1000_0000

    func word(_ p: LinuxProcess, _ a: UInt64) -> UInt64 {
        (p.memory.read(a, count: 8) ?? []).enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }

    func put(_ p: LinuxProcess, _ a: UInt64, _ value: UInt64) {
        _ = p.memory.poke(a, (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) })
    }

    func pending(_ t: GuestThread) -> UInt64 {
        #expect(SignalSyscalls.rtSigpending(t, SyscallArgs(values: (Self.scratch, 8, 0, 0, 0, 0))) == 0)
        return word(t.process, Self.scratch)
    }

    /// rt_sigtimedwait for `set` with a zero timeout; the siginfo goes to scratch + 0x100.
    func take(_ t: GuestThread, _ set: UInt64) -> Int64 {
        put(t.process, Self.scratch + 0x40, set)
        put(t.process, Self.scratch + 0x80, 0)
        put(t.process, Self.scratch + 0x88, 0)
        return SignalSyscalls.rtSigtimedwait(t, SyscallArgs(values: (Self.scratch + 0x40, Self.scratch + 0x100, Self.scratch + 0x80, 8, 0, 0)))
    }

    @Test func aSignalSentWhileBlockedIsPendingUntilTakenOrIgnored() throws {
        let (p, path) = try ThreadSyscallTests.process()
        defer { unlink(path) }
        try p.memory.map(Self.scratch, length: 0x1000, [.read, .write])
        let t = p.mainThread
        let handler = GuestSignalAction(handler: 0x400100, flags: SignalDelivery.SA_RESTORER, restorer: 0x400200, mask: 0)
        p.signalActions.withLock { $0[10] = handler; $0[12] = handler; $0[40] = handler }
        t.signalMask = (1 << 9) | (1 << 11) | (1 << 39)
        let me = UInt64(getpid())
        #expect(ThreadSyscalls.tgkill(t, SyscallArgs(values: (me, UInt64(emu_gettid()), 10, 0, 0, 0))) == 0)
        #expect(ThreadSyscalls.tgkill(t, SyscallArgs(values: (me, UInt64(emu_gettid()), 10, 0, 0, 0))) == 0)
        #expect(ProcessSyscalls.kill(t, SyscallArgs(values: (me, 12, 0, 0, 0, 0))) == 0)
        for value in 1...3 { // sigqueue(SIGRTMIN+6 = 40, value) with the guest's siginfo
            let info = QueuedSignal(signal: 40, code: QueuedSignal.SI_QUEUE, sender: me, value: UInt64(value)).siginfo
            _ = p.memory.poke(Self.scratch + 0x200, info)
            #expect(ProcessSyscalls.rtSigqueueinfo(t, SyscallArgs(values: (me, 40, Self.scratch + 0x200, 0, 0, 0))) == 0)
        }
        #expect(pending(t) == (1 << 9) | (1 << 11) | (1 << 39), "all three pending while blocked")
        #expect(p.mainThread.handle.pending.count(of: 10) == 1 && p.pendingSignals.count(of: 40) == 3)
        #expect(SignalSyscalls.rtSigpending(t, SyscallArgs(values: (Self.scratch, 9, 0, 0, 0, 0))) == -LinuxErrno.EINVAL)

        // Thread-directed first, then the lowest; real-time instances one by one, in order.
        #expect(take(t, (1 << 9) | (1 << 11) | (1 << 39)) == 10)
        #expect(word(p, Self.scratch + 0x108) & 0xFFFF_FFFF == UInt64(UInt32(bitPattern: QueuedSignal.SI_TKILL)))
        #expect(take(t, (1 << 11) | (1 << 39)) == 12)
        for value in 1...3 {
            #expect(take(t, 1 << 39) == 40)
            #expect(word(p, Self.scratch + 0x118) == UInt64(value), "si_value of instance \(value)")
        }
        #expect(take(t, ~0) == -LinuxErrno.EAGAIN, "nothing left: a zero timeout only looks")
        #expect(t.signalMask == (1 << 9) | (1 << 11) | (1 << 39), "the mask is back")

        // SIG_IGN: a blocked signal stays pending; setting SIG_IGN drops one pending.
        p.signalActions.withLock { $0[10] = GuestSignalAction(handler: 1) }
        #expect(ThreadSyscalls.tgkill(t, SyscallArgs(values: (me, UInt64(emu_gettid()), 10, 0, 0, 0))) == 0)
        #expect(pending(t) == 1 << 9, "blocked and ignored: still pending")
        p.signalActions.withLock { $0[12] = handler }
        #expect(ProcessSyscalls.kill(t, SyscallArgs(values: (me, 12, 0, 0, 0, 0))) == 0)
        put(p, Self.scratch + 0x300, 1) // SIG_IGN
        for i in 1...3 { put(p, Self.scratch + 0x300 + 8 * UInt64(i), 0) }
        #expect(SignalSyscalls.rtSigaction(t, SyscallArgs(values: (12, Self.scratch + 0x300, 0, 8, 0, 0))) == 0)
        #expect(pending(t) == 1 << 9, "setting SIG_IGN discarded the pending SIGUSR2")
        t.signalMask = 0
        t.deliverPendingSignals()
        #expect(pending(t) == 0 && t.handle.pending.mask == 0, "unblocked and ignored: dropped")
        #expect(ThreadSyscalls.tgkill(t, SyscallArgs(values: (me, UInt64(emu_gettid()), 10, 0, 0, 0))) == 0)
        #expect(t.handle.pending.mask == 0, "not blocked and ignored: dropped at once")
    }

    @Test func sigtimedwaitChecksItsArgumentsAndTimesOut() throws {
        let (p, path) = try ThreadSyscallTests.process()
        defer { unlink(path) }
        try p.memory.map(Self.scratch, length: 0x1000, [.read, .write])
        let t = p.mainThread
        put(p, Self.scratch, 1 << 9)
        #expect(SignalSyscalls.rtSigtimedwait(t, SyscallArgs(values: (Self.scratch, 0, 0, 4, 0, 0))) == -LinuxErrno.EINVAL)
        #expect(SignalSyscalls.rtSigtimedwait(t, SyscallArgs(values: (0x7000_0000, 0, 0, 8, 0, 0))) == -LinuxErrno.EFAULT)
        put(p, Self.scratch + 0x10, 0)
        put(p, Self.scratch + 0x18, 1_000_000_000) // tv_nsec out of range
        #expect(SignalSyscalls.rtSigtimedwait(t, SyscallArgs(values: (Self.scratch, 0, Self.scratch + 0x10, 8, 0, 0))) == -LinuxErrno.EINVAL)
        put(p, Self.scratch + 0x18, 20_000_000) // 20 ms
        let started = SignalSyscalls.monotonicNow()
        #expect(SignalSyscalls.rtSigtimedwait(t, SyscallArgs(values: (Self.scratch, 0, Self.scratch + 0x10, 8, 0, 0))) == -LinuxErrno.EAGAIN)
        #expect(SignalSyscalls.monotonicNow() - started >= 0.019)
        #expect(SignalSyscalls.rtSigtimedwait(t, SyscallArgs(values: (Self.scratch, 0, 0, 8, 0, 0))) == -LinuxErrno.ENOSYS,
                "an endless wait nothing could end")
    }
}
