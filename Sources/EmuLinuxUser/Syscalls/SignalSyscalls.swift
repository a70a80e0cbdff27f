#if canImport(Glibc)
import Glibc
#endif
import EmuTCG

/// rt_sigaction, rt_sigprocmask, rt_sigsuspend, rt_sigreturn, sigaltstack: kept for the guest
/// (host dispositions and the host mask stay the emulator's); `SignalDelivery` delivers.
enum SignalSyscalls {
    static func rtSigaction(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        let signal = a[0]
        guard a[3] == 8, signal >= 1, signal <= UInt64(GuestSignal.count) else { return -LinuxErrno.EINVAL }
        let memory = p.memory
        var newAction: GuestSignalAction? = nil
        if a[1] != 0 {
            guard signal != 9, signal != 19 else { return -LinuxErrno.EINVAL }
            guard let raw = memory.read(a[1], count: 32) else { return -LinuxErrno.EFAULT }
            func word(_ i: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(raw[i * 8 + $1]) << (8 * UInt64($1)) } }
            newAction = GuestSignalAction(handler: word(0), flags: word(1), restorer: word(2), mask: word(3))
        }
        if a[2] != 0 {
            let old = p.process.action(Int(signal))
            var bytes: [UInt8] = []
            for w in [old.handler, old.flags, old.restorer, old.mask] {
                for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: w >> (8 * UInt64(i)))) }
            }
            guard memory.hostPointer(a[2], length: 32, access: .write) != nil else { return -LinuxErrno.EFAULT }
            memory.poke(a[2], bytes)
        }
        if let newAction {
            p.process.signalActions.withLock { $0[Int(signal)] = newAction }
            // An action that ignores the signal discards what is pending of it, blocked or not.
            if p.isIgnored(Int32(signal)) { p.process.discardPending(Int32(signal)) }
        }
        return 0
    }

    /// rt_sigsuspend: replaces the thread's mask with the given set and waits until a signal
    /// arrives that has a handler or kills (ignored ones are discarded and do not wake it), then
    /// enters the handler with RAX = -EINTR saved in a frame that holds the original mask, so
    /// sigreturn restores it (as Linux's saved_sigmask does). The wait is a host pause through
    /// the safe-syscall stub, so a signal (or another thread's kick) between the check and the
    /// wait is not lost. When nothing could wake it (no host signal forwarding and no other
    /// thread that could kick) it is ENOSYS, with the mask restored, unless a signal is already
    /// pending. EINVAL for a set size other than 8, EFAULT for an unreadable set.
    static func rtSigsuspend(_ t: GuestThread, _ a: SyscallArgs) -> Int64 {
        guard a[1] == 8 else { return -LinuxErrno.EINVAL }
        guard let ptr = t.memory.hostPointer(a[0], length: 8, access: .read) else { return -LinuxErrno.EFAULT }
        let process = t.process
        let original = t.signalMask
        t.signalMask = ptr.loadUnaligned(as: UInt64.self) & ~((1 << 8) | (1 << 18))
        var signal: Int32 = 0
        var taken = QueuedSignal(signal: 0, code: 0, sender: 0)
        while signal == 0 {
            t.takeHostSignals()
            if process.exiting.load(ordering: .acquiring) { t.signalMask = original; return -LinuxErrno.EINTR }
            var ready = ~t.signalMask
            var instance: QueuedSignal?
            while let candidate = t.nextPending(in: ready) {
                ready &= ~PendingSignalSet.bit(candidate)
                // Ignored signals are discarded, as Linux does; another thread may claim first.
                if let claimed = t.claim(candidate), !t.isIgnored(candidate) { instance = claimed; break }
            }
            if let instance { taken = instance; signal = instance.signal; break }
            guard process.forwardsHostSignals || process.kickHandlerInstalled.load(ordering: .acquiring) else {
                t.signalMask = original
                return -LinuxErrno.ENOSYS
            }
            _ = t.blockingSyscall(34, 0, 0, 0, 0, 0, 0) // pause: returns once a host signal or kick came
        }
        if process.action(Int(signal)).handler == 0 {
            t.signalMask = original
            process.exitGroup(.signaled(signal))
            return -LinuxErrno.EINTR
        }
        // The frame must hold the system call's result and return address, as after SYSCALL.
        let s = t.cpu.slots
        s[0] = UInt64(bitPattern: -LinuxErrno.EINTR)
        s[1] = s[StateSlot.rip]
        s[11] = t.cpu.rflags
        t.keepRegistersAfterSyscall = true
        let info = SignalDelivery.Info(taken)
        t.trace?("--- \(LinuxProcess.signalName(signal)) {si_code=\(taken.code)} ---")
        if !SignalDelivery.deliver(t, info, savedMask: original) {
            t.signalMask = original
            process.exitGroup(.signaled(GuestSignal.SIGSEGV))
        }
        return -LinuxErrno.EINTR
    }

    /// SIGKILL and SIGSTOP: never blocked, never waited for.
    static let unblockable: UInt64 = (1 << 8) | (1 << 18)

    /// rt_sigpending(set, size): the signals pending for the calling thread (its own and the
    /// process's, and forwarded host signals the host holds for it) that it blocks. EINVAL for
    /// a size above 8, EFAULT for an unwritable set.
    static func rtSigpending(_ t: GuestThread, _ a: SyscallArgs) -> Int64 {
        guard a[1] <= 8 else { return -LinuxErrno.EINVAL }
        guard let ptr = t.memory.hostPointer(a[0], length: max(a[1], 1), access: .write) else { return -LinuxErrno.EFAULT }
        t.takeHostSignals()
        var pending = t.pendingMask
        if t.process.forwardsHostSignals { pending |= HostSignals.pending() & LinuxProcess.forwardedMask }
        pending &= t.signalMask
        for i in 0..<Int(a[1]) { ptr.storeBytes(of: UInt8(truncatingIfNeeded: pending >> (8 * UInt64(i))), toByteOffset: i, as: UInt8.self) }
        t.memory.didWrite(a[0], length: a[1])
        return 0
    }

    /// rt_sigtimedwait(set, info, timeout, size): takes a pending signal of `set` (the thread's
    /// own before the process's, the lowest-numbered first, its oldest instance), writes its siginfo to `info` and returns its
    /// number. Waits while none is pending, with `set` unblocked meanwhile as Linux does (so a
    /// forwarded host signal of the set reaches this thread), at most `timeout` (EAGAIN once it
    /// passes; a zero timeout only looks). A pending signal outside the set that the thread does
    /// not block ends the wait with EINTR (it is delivered after the call). EINVAL for a size
    /// other than 8 or a bad timeout, EFAULT for unreadable arguments or an unwritable info;
    /// ENOSYS for an endless wait nothing could end (no host signal forwarding, no threads).
    static func rtSigtimedwait(_ t: GuestThread, _ a: SyscallArgs) -> Int64 {
        guard a[3] == 8 else { return -LinuxErrno.EINVAL }
        guard let setPointer = t.memory.hostPointer(a[0], length: 8, access: .read) else { return -LinuxErrno.EFAULT }
        let set = setPointer.loadUnaligned(as: UInt64.self) & ~unblockable
        if a[1] != 0 { guard t.memory.hostPointer(a[1], length: 128, access: .write) != nil else { return -LinuxErrno.EFAULT } }
        var deadline: Double?
        if a[2] != 0 {
            guard let raw = t.memory.read(a[2], count: 16) else { return -LinuxErrno.EFAULT }
            let seconds = Int64(bitPattern: (0..<8).reduce(UInt64(0)) { $0 | UInt64(raw[$1]) << (8 * UInt64($1)) })
            let nanoseconds = Int64(bitPattern: (8..<16).reduce(UInt64(0)) { $0 | UInt64(raw[$1]) << (8 * UInt64($1 - 8)) })
            guard seconds >= 0, nanoseconds >= 0, nanoseconds < 1_000_000_000 else { return -LinuxErrno.EINVAL }
            deadline = monotonicNow() + Double(min(seconds, 1 << 40)) + Double(nanoseconds) / 1e9
        }
        let process = t.process
        let original = t.signalMask
        t.signalMask = original & ~set
        defer { t.signalMask = original }
        while true {
            t.takeHostSignals()
            if process.exiting.load(ordering: .acquiring) { return -LinuxErrno.EINTR }
            var ready = set
            while let candidate = t.nextPending(in: ready) {
                ready &= ~PendingSignalSet.bit(candidate)
                guard let instance = t.claim(candidate) else { continue }
                if a[1] != 0 { t.memory.poke(a[1], instance.siginfo) }
                return Int64(candidate)
            }
            if t.pendingMask & ~original & ~set != 0 { return -LinuxErrno.EINTR }
            if let deadline {
                let left = deadline - monotonicNow()
                if left <= 0 { return -LinuxErrno.EAGAIN }
                var wait = timespec(tv_sec: Int(left), tv_nsec: Int((left - Double(Int(left))) * 1e9))
                _ = withUnsafeMutablePointer(to: &wait) { t.blockingSyscall(271, 0, 0, Int(bitPattern: $0), 0, 8, 0) } // ppoll
            } else {
                guard process.forwardsHostSignals || process.kickHandlerInstalled.load(ordering: .acquiring) else {
                    return -LinuxErrno.ENOSYS
                }
                _ = t.blockingSyscall(34, 0, 0, 0, 0, 0, 0) // pause: returns once a host signal or kick came
            }
        }
    }

    static func monotonicNow() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    static func rtSigprocmask(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        guard a[3] == 8 else { return -LinuxErrno.EINVAL }
        let memory = p.memory
        let old = p.signalMask
        if a[1] != 0 {
            guard let ptr = memory.hostPointer(a[1], length: 8, access: .read) else { return -LinuxErrno.EFAULT }
            let set = ptr.loadUnaligned(as: UInt64.self) & ~((1 << 8) | (1 << 18)) // SIGKILL, SIGSTOP bits
            switch a[0] {
            case 0: p.signalMask = old | set
            case 1: p.signalMask = old & ~set
            case 2: p.signalMask = set
            default: return -LinuxErrno.EINVAL
            }
        }
        if a[2] != 0 {
            guard let ptr = memory.hostPointer(a[2], length: 8, access: .write) else { return -LinuxErrno.EFAULT }
            ptr.storeBytes(of: old, toByteOffset: 0, as: UInt64.self)
            memory.didWrite(a[2], length: 8)
        }
        return 0
    }

    static func rtSigreturn(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        guard SignalDelivery.sigreturn(p) else {
            p.process.exitGroup(.signaled(GuestSignal.SIGSEGV))
            return 0
        }
        p.keepRegistersAfterSyscall = true
        return 0
    }

    /// sigaltstack(ss, old_ss) for the calling thread. old_ss gets the stack as it was, its
    /// ss_flags SS_DISABLE (none set) or SS_ONSTACK (RSP runs on it), plus SS_AUTODISARM. A new
    /// ss is checked as `AlternateSignalStack.change` says (EPERM, EINVAL, ENOMEM). EFAULT for an
    /// unreadable ss (before any change) or an unwritable old_ss (after the change, as Linux).
    static func sigaltstack(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        let size = AlternateSignalStack.guestSize
        var new: AlternateSignalStack?
        if a[0] != 0 {
            guard let raw = p.memory.read(a[0], count: size) else { return -LinuxErrno.EFAULT }
            new = AlternateSignalStack(guestBytes: raw)
        }
        let sp = p.cpu[gpr: 4]
        let old = p.alternateStack
        if let new {
            let result = p.alternateStack.change(to: new, sp: sp)
            if result != 0 { return result }
        }
        if a[1] != 0 {
            guard p.memory.hostPointer(a[1], length: UInt64(size), access: .write) != nil else { return -LinuxErrno.EFAULT }
            guard p.memory.poke(a[1], old.guestBytes(flags: old.reportedFlags(sp: sp))) else { return -LinuxErrno.EFAULT }
        }
        return 0
    }
}
