#if canImport(Glibc)
import Glibc
#endif
import CEmuSystem
import Testing

/// Seed 001's safe system call: a signal pending before the kernel is entered makes the call
/// return -ERESTARTSYS instead of blocking; a blocked one does not.
@Suite(.serialized) struct SafeSyscallTests {
    @Test func aPendingUnblockedSignalKeepsTheCallOutOfTheKernel() throws {
        var fds: [Int32] = [-1, -1]
        #expect(fds.withUnsafeMutableBufferPointer { emu_raw_syscall(293, Int(bitPattern: $0.baseAddress), Int(O_NONBLOCK | O_CLOEXEC), 0, 0, 0, 0) } == 0)
        defer { close(fds[0]); close(fds[1]) }
        var byte: UInt8 = 0
        let readEmpty = { withUnsafeMutablePointer(to: &byte) { emu_safe_syscall(0, Int(fds[0]), Int(bitPattern: $0), 1, 0, 0, 0) } }
        // The words are per host thread, and this test runs on a pool thread that an earlier test
        // (a guest thread's mask, a kick) may have used: start from a clean state, leave one.
        emu_set_guest_blocked_signals(0)
        _ = emu_take_host_signals()
        defer { emu_set_guest_blocked_signals(0); _ = emu_take_host_signals() }
        #expect(readEmpty() == -Int(EAGAIN)) // nothing pending: the kernel is entered
        #expect(emu_forward_host_signal(SIGUSR1) == 0)
        // Test-runner threads may block SIGUSR1; this thread must take it.
        var set = sigset_t(), old = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGUSR1)
        pthread_sigmask(SIG_UNBLOCK, &set, &old)
        defer { signal(SIGUSR1, SIG_DFL); pthread_sigmask(SIG_SETMASK, &old, nil) }
        raise(SIGUSR1)
        #expect(readEmpty() == -512) // pending: -ERESTARTSYS, the kernel is not entered
        #expect(emu_take_host_signals() == 1 << (UInt64(SIGUSR1) - 1))
        #expect(readEmpty() == -Int(EAGAIN))
        emu_set_guest_blocked_signals(1 << (UInt64(SIGUSR1) - 1))
        raise(SIGUSR1)
        #expect(readEmpty() == -Int(EAGAIN)) // blocked by the guest: no interruption
        emu_set_guest_blocked_signals(0)
        #expect(readEmpty() == -512)
        _ = emu_take_host_signals()
    }
}
