#if canImport(Glibc)
import Glibc
#endif
import CEmuSystem
import EmuTCG

/// Threads: clone for a thread, exit and exit_group, set_tid_address, the robust list, gettid
/// (passed through: guest ids are host ids), tkill/tgkill, futex.
enum ThreadSyscalls {
    static let CLONE_VM: UInt64 = 0x100, CLONE_FS: UInt64 = 0x200, CLONE_FILES: UInt64 = 0x400
    static let CLONE_SIGHAND: UInt64 = 0x800, CLONE_THREAD: UInt64 = 0x10000, CLONE_SYSVSEM: UInt64 = 0x40000
    static let CLONE_SETTLS: UInt64 = 0x80000, CLONE_PARENT_SETTID: UInt64 = 0x100000
    static let CLONE_CHILD_CLEARTID: UInt64 = 0x200000, CLONE_DETACHED: UInt64 = 0x400000
    static let CLONE_CHILD_SETTID: UInt64 = 0x1000000
    /// What a thread shares: memory, cwd/umask, the fd table and signal handlers are the host
    /// process's own, so they are shared already; Linux requires them together.
    static let threadFlags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD
    static let allowedThreadFlags = threadFlags | CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID
        | CLONE_CHILD_CLEARTID | CLONE_DETACHED | CLONE_CHILD_SETTID

    /// clone(flags, stack, parent_tid, child_tid, tls) for a new thread of this process.
    static func cloneThread(_ p: GuestThread, flags: UInt64, stack: UInt64, parentTID: UInt64, childTID: UInt64,
                            tls: UInt64) -> Int64 {
        guard flags & threadFlags == threadFlags, flags & ~allowedThreadFlags == 0 else { return -LinuxErrno.EINVAL }
        let setParent = flags & CLONE_PARENT_SETTID != 0, setChild = flags & CLONE_CHILD_SETTID != 0
        for (wanted, address) in [(setParent, parentTID), (setChild, childTID)] where wanted {
            guard p.memory.hostPointer(address, length: 4, access: .write) != nil else { return -LinuxErrno.EFAULT }
        }
        let cpu = CPUState()
        cpu.slots.update(from: p.cpu.slots, count: StateSlot.count)
        let s = cpu.slots
        s[0] = 0 // the child's clone returns 0
        s[1] = s[StateSlot.rip] // as after SYSCALL: RCX = return address, R11 = RFLAGS
        s[11] = cpu.rflags
        if stack != 0 { cpu[gpr: 4] = stack }
        if flags & CLONE_SETTLS != 0 { cpu.fsBase = tls }
        let executor = Executor(cpu: cpu, memory: p.memory)
        let child = GuestThread(process: p.process, cpu: cpu, executor: executor, signalMask: p.signalMask, isInitial: false)
        if flags & CLONE_CHILD_CLEARTID != 0 { child.clearChildTID = childTID }
        child.alternateStack = .disabled // as Linux resets it for CLONE_VM without CLONE_VFORK
        return ThreadSpawner.spawn(child, parentTID: setParent ? parentTID : nil, childTID: setChild ? childTID : nil)
    }

    /// exit: this thread ends; the process ends with it only when it is the last.
    static func exit(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        p.exitStatus = Int32(truncatingIfNeeded: a[0] & 0xFF)
        return 0
    }

    /// exit_group: every thread ends; the process's status is this one.
    static func exitGroup(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        let status = Int32(truncatingIfNeeded: a[0] & 0xFF)
        p.exitStatus = status
        p.process.exitGroup(.exited(status))
        return 0
    }

    static func setTidAddress(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        p.clearChildTID = a[0]
        return Int64(emu_gettid())
    }

    /// set_robust_list: recorded per thread and walked when the thread ends (`RobustList`).
    static func setRobustList(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        guard a[1] == 24 else { return -LinuxErrno.EINVAL }
        p.robustList = (a[0], a[1])
        return 0
    }

    /// get_robust_list(pid, head_ptr, len_ptr) of the calling thread (pid 0 or its own id).
    static func getRobustList(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        let pid = Int32(truncatingIfNeeded: a[0])
        guard pid == 0 || pid == emu_gettid() else { return -LinuxErrno.ESRCH }
        guard let head = p.memory.hostPointer(a[1], length: 8, access: .write),
              let length = p.memory.hostPointer(a[2], length: 8, access: .write) else { return -LinuxErrno.EFAULT }
        head.storeBytes(of: p.robustList.head, as: UInt64.self)
        length.storeBytes(of: p.robustList.length, as: UInt64.self)
        p.memory.didWrite(a[1], length: 8)
        p.memory.didWrite(a[2], length: 8)
        return 0
    }

    /// A signal for one thread of this process: pending for it (SI_TKILL from us unless
    /// `instance` gives the siginfo), and the thread is kicked so a blocking call it is in
    /// returns and the signal is delivered. Dropped at once when the thread does not block it
    /// and its action is to ignore it; EAGAIN when a real-time signal finds the queue full.
    static func signalThread(_ p: GuestThread, tid: Int32, signal: UInt64, instance: QueuedSignal? = nil) -> Int64 {
        guard signal <= UInt64(GuestSignal.count) else { return -LinuxErrno.EINVAL }
        guard let target = tid == emu_gettid() ? p.handle : p.process.thread(tid: tid) else { return -LinuxErrno.ESRCH }
        if signal == 0 || ProcessSyscalls.isDiscarded(p.process, signal, blocked: target.blocked.load(ordering: .relaxed)) { return 0 }
        let sent = instance ?? QueuedSignal(signal: Int32(signal), code: QueuedSignal.SI_TKILL, sender: LinuxProcess.ownSender)
        guard target.pending.post(sent) else { return -LinuxErrno.EAGAIN }
        if target !== p.handle { target.kick() }
        return 0
    }

    static func tkill(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        signalThread(p, tid: Int32(truncatingIfNeeded: a[0]), signal: a[1])
    }

    static func tgkill(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        let tgid = Int32(truncatingIfNeeded: a[0])
        guard tgid == getpid() else {
            return Int64(emu_raw_syscall(234, Int(tgid), Int(truncatingIfNeeded: a[1]), Int(truncatingIfNeeded: a[2]), 0, 0, 0))
        }
        return signalThread(p, tid: Int32(truncatingIfNeeded: a[1]), signal: a[2])
    }

    /// rt_tgsigqueueinfo(tgid, tid, sig, info): to a thread of this process, pending with the
    /// guest's siginfo (si_code, sender, si_value); to another process, the host's (which
    /// refuses a forged si_code with EPERM). EFAULT for an unreadable info.
    static func rtTgsigqueueinfo(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        let tgid = Int32(truncatingIfNeeded: a[0])
        guard let info = p.memory.read(a[3], count: 128) else { return -LinuxErrno.EFAULT }
        guard tgid == getpid() else {
            return Int64(info.withUnsafeBytes {
                emu_raw_syscall(297, Int(tgid), Int(truncatingIfNeeded: a[1]), Int(truncatingIfNeeded: a[2]), Int(bitPattern: $0.baseAddress), 0, 0)
            })
        }
        guard a[2] >= 1 && a[2] <= UInt64(GuestSignal.count) else { return -LinuxErrno.EINVAL }
        let instance = QueuedSignal(siginfo: info, signal: Int32(a[2]))
        return signalThread(p, tid: Int32(truncatingIfNeeded: a[1]), signal: a[2], instance: instance)
    }

    /// futex on guest memory: the host futex on the same bytes (the threads share the host
    /// window, so a host waiter and a host waker meet on the same address). Waits go through the
    /// safe-syscall path, so a signal or a kick interrupts them.
    static func futex(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        guard a[0] & 3 == 0 else { return -LinuxErrno.EINVAL }
        let op = a[1] & 0x7F
        let wordAccess: PagePermissions = [6, 7, 8].contains(op) ? [.read, .write] : .read
        guard let word = p.memory.hostPointer(a[0], length: 4, access: wordAccess) else { return -LinuxErrno.EFAULT }
        var arg3 = Int(truncatingIfNeeded: a[3])
        var arg4 = Int(truncatingIfNeeded: a[4])
        switch op {
        case 0, 9, 6: // WAIT, WAIT_BITSET, LOCK_PI: arg3 is a timeout pointer
            if a[3] != 0 {
                guard let t = p.memory.hostPointer(a[3], length: 16, access: .read) else { return -LinuxErrno.EFAULT }
                arg3 = Int(bitPattern: t)
            }
        case 1, 10, 7, 8: // WAKE, WAKE_BITSET, UNLOCK_PI, TRYLOCK_PI
            break
        case 3, 4, 5: // REQUEUE, CMP_REQUEUE, WAKE_OP: arg4 is a second futex word
            guard a[4] & 3 == 0, let w2 = p.memory.hostPointer(a[4], length: 4, access: [.read, .write]) else { return -LinuxErrno.EFAULT }
            arg4 = Int(bitPattern: w2)
        default:
            return -LinuxErrno.ENOSYS
        }
        let r = Int64(p.blockingSyscall(202, Int(bitPattern: word), Int(truncatingIfNeeded: a[1]), Int(truncatingIfNeeded: a[2]),
                                        arg3, arg4, Int(truncatingIfNeeded: a[5])))
        // The kernel wrote a guest word: the PI operations the first, WAKE_OP the second (a page
        // that holds translated code must drop it, as for any guest store).
        if r >= 0 && [6, 7, 8].contains(op) { p.memory.didWrite(a[0], length: 4) }
        if r >= 0 && op == 5 { p.memory.didWrite(a[4], length: 4) }
        return r
    }
}
