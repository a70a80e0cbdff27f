#if canImport(Glibc)
import Glibc
#endif
import CEmuSystem
import EmuTCG

/// exit, arch_prctl, thread bookkeeping, kill to self, futex.
enum ProcessSyscalls {
    static func exit(_ p: LinuxProcess, _ a: SyscallArgs) -> Int64 {
        p.exitStatus = .exited(Int32(truncatingIfNeeded: a[0] & 0xFF))
        return 0
    }

    static func archPrctl(_ p: LinuxProcess, _ a: SyscallArgs) -> Int64 {
        switch a[0] {
        case 0x1001: p.cpu.gsBase = a[1]; return 0
        case 0x1002: p.cpu.fsBase = a[1]; return 0
        case 0x1003, 0x1004:
            let value = a[0] == 0x1003 ? p.cpu.fsBase : p.cpu.gsBase
            guard let ptr = p.memory.hostPointer(a[1], length: 8, access: .write) else { return -LinuxErrno.EFAULT }
            ptr.storeBytes(of: value, as: UInt64.self)
            p.memory.didWrite(a[1], length: 8)
            return 0
        default:
            return -LinuxErrno.EINVAL
        }
    }

    static func setTidAddress(_ p: LinuxProcess, _ a: SyscallArgs) -> Int64 {
        p.clearChildTID = a[0]
        return Int64(emu_gettid())
    }

    static func setRobustList(_ p: LinuxProcess, _ a: SyscallArgs) -> Int64 {
        a[1] == 24 ? 0 : -LinuxErrno.EINVAL
    }

    static func getgroups(_ p: LinuxProcess, _ a: SyscallArgs) -> Int64 {
        let count = a[0]
        guard count <= 65536 else { return -LinuxErrno.EINVAL }
        var ptr: UnsafeMutableRawPointer? = nil
        if count > 0 {
            guard let q = p.memory.hostPointer(a[1], length: count * 4, access: .write) else { return -LinuxErrno.EFAULT }
            ptr = q
        }
        let r = emu_raw_syscall(115, Int(count), Int(bitPattern: ptr), 0, 0, 0, 0)
        if r > 0 { p.memory.didWrite(a[1], length: UInt64(r) * 4) }
        return Int64(r)
    }

    /// Signals default-ignored by Linux (SIGCHLD, SIGCONT, SIGURG, SIGWINCH).
    static let ignoredByDefault: Set<UInt64> = [17, 18, 23, 28]

    /// A signal sent to the process itself: SIG_IGN and default-ignored signals do nothing;
    /// others become pending and are delivered (or kill, by default) when the call returns.
    static func signalSelf(_ p: LinuxProcess, _ signal: UInt64) -> Int64 {
        guard signal <= UInt64(GuestSignal.count) else { return -LinuxErrno.EINVAL }
        if signal == 0 { return 0 }
        let action = p.signalActions[Int(signal)]
        if action.handler == 1 { return 0 }
        if action.handler == 0 && ignoredByDefault.contains(signal) { return 0 }
        p.pendingSignals |= 1 << (signal - 1)
        return 0
    }

    static func kill(_ p: LinuxProcess, _ a: SyscallArgs) -> Int64 {
        let pid = Int32(truncatingIfNeeded: a[0])
        if pid == getpid() || pid == 0 { return signalSelf(p, a[1]) }
        return Int64(emu_raw_syscall(62, Int(pid), Int(truncatingIfNeeded: a[1]), 0, 0, 0, 0))
    }

    static func tkill(_ p: LinuxProcess, _ a: SyscallArgs) -> Int64 {
        guard Int32(truncatingIfNeeded: a[0]) == emu_gettid() else { return -LinuxErrno.ESRCH }
        return signalSelf(p, a[1])
    }

    static func tgkill(_ p: LinuxProcess, _ a: SyscallArgs) -> Int64 {
        guard Int32(truncatingIfNeeded: a[1]) == emu_gettid() else { return -LinuxErrno.ESRCH }
        return signalSelf(p, a[2])
    }

    /// futex on guest memory: the host futex on the same bytes (guest words are host words).
    static func futex(_ p: LinuxProcess, _ a: SyscallArgs) -> Int64 {
        guard let word = p.memory.hostPointer(a[0], length: 4, access: .read) else { return -LinuxErrno.EFAULT }
        let op = a[1] & 0x7F
        var arg3 = Int(truncatingIfNeeded: a[3])
        var arg4 = Int(truncatingIfNeeded: a[4])
        switch op {
        case 0, 9: // WAIT, WAIT_BITSET: arg3 is a timeout pointer
            if a[3] != 0 {
                guard let t = p.memory.hostPointer(a[3], length: 16, access: .read) else { return -LinuxErrno.EFAULT }
                arg3 = Int(bitPattern: t)
            }
        case 1, 10: // WAKE, WAKE_BITSET
            break
        case 3, 4, 5: // REQUEUE, CMP_REQUEUE, WAKE_OP: arg4 is a second futex word
            guard let w2 = p.memory.hostPointer(a[4], length: 4, access: .write) else { return -LinuxErrno.EFAULT }
            arg4 = Int(bitPattern: w2)
        default:
            return -LinuxErrno.ENOSYS
        }
        return Int64(p.blockingSyscall(202, Int(bitPattern: word), Int(truncatingIfNeeded: a[1]), Int(truncatingIfNeeded: a[2]),
                                     arg3, arg4, Int(truncatingIfNeeded: a[5])))
    }
}
