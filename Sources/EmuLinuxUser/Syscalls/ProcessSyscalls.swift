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

    /// kill: to this process, a process-directed signal (SIG_IGN and default-ignored signals do
    /// nothing; others are taken by a thread that does not block them); elsewhere, the host's.
    static func kill(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        let pid = Int32(truncatingIfNeeded: a[0])
        guard pid == getpid() || pid == 0 else {
            return Int64(emu_raw_syscall(62, Int(pid), Int(truncatingIfNeeded: a[1]), 0, 0, 0, 0))
        }
        let signal = a[1]
        guard signal <= UInt64(GuestSignal.count) else { return -LinuxErrno.EINVAL }
        if signal == 0 || isDiscarded(p.process, signal) { return 0 }
        p.process.raise(Int32(signal), from: p.handle)
        return 0
    }

    /// Whether `signal` (1 … 64) would be thrown away on arrival (SIG_IGN, or default-ignored).
    static func isDiscarded(_ process: LinuxProcess, _ signal: UInt64) -> Bool {
        let action = process.action(Int(signal))
        return action.handler == 1 || (action.handler == 0 && ignoredByDefault.contains(signal))
    }
}
