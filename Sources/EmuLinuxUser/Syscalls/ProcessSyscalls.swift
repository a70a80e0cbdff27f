#if canImport(Glibc)
import Glibc
#endif
import CEmuSystem
import EmuTCG

/// arch_prctl, getgroups, kill.
enum ProcessSyscalls {
    static func archPrctl(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
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

    static func getgroups(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
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

    /// kill: to this process, a process-directed signal, SI_USER from us (one the thread group
    /// leader does not block and would ignore is dropped; others are taken by a thread that does
    /// not block them); elsewhere, the host's. EAGAIN when a real-time signal finds the queue
    /// full.
    static func kill(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        let pid = Int32(truncatingIfNeeded: a[0])
        guard pid == getpid() || pid == 0 else {
            return Int64(emu_raw_syscall(62, Int(pid), Int(truncatingIfNeeded: a[1]), 0, 0, 0, 0))
        }
        let signal = a[1]
        guard signal <= UInt64(GuestSignal.count) else { return -LinuxErrno.EINVAL }
        if signal == 0 || isDiscarded(p.process, signal, blocked: p.process.leaderBlocked) { return 0 }
        return p.process.raise(Int32(signal), from: p.handle) ? 0 : -LinuxErrno.EAGAIN
    }

    /// rt_sigqueueinfo(tgid, sig, info): to this process, a process-directed signal with the
    /// guest's siginfo; to another, the host's. EFAULT for an unreadable info, EAGAIN when the
    /// queue is full.
    static func rtSigqueueinfo(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        let pid = Int32(truncatingIfNeeded: a[0])
        guard let info = p.memory.read(a[2], count: 128) else { return -LinuxErrno.EFAULT }
        guard pid == getpid() else {
            return Int64(info.withUnsafeBytes {
                emu_raw_syscall(129, Int(pid), Int(truncatingIfNeeded: a[1]), Int(bitPattern: $0.baseAddress), 0, 0, 0)
            })
        }
        let signal = a[1]
        guard signal >= 1 && signal <= UInt64(GuestSignal.count) else { return -LinuxErrno.EINVAL }
        if isDiscarded(p.process, signal, blocked: p.process.leaderBlocked) { return 0 }
        let instance = QueuedSignal(siginfo: info, signal: Int32(signal))
        return p.process.raise(instance, from: p.handle) ? 0 : -LinuxErrno.EAGAIN
    }

    /// Whether `signal` (1 … 64) would be thrown away on arrival: its action is to ignore it
    /// (SIG_IGN, or the default of a default-ignored signal) and the receiver does not block it
    /// (`blocked`): a blocked signal stays pending whatever its action, as on Linux.
    static func isDiscarded(_ process: LinuxProcess, _ signal: UInt64, blocked: UInt64) -> Bool {
        guard signal >= 1, signal <= UInt64(GuestSignal.count), blocked & (1 << (signal - 1)) == 0 else { return false }
        let action = process.action(Int(signal))
        return action.handler == 1 || (action.handler == 0 && ignoredByDefault.contains(signal))
    }
}
