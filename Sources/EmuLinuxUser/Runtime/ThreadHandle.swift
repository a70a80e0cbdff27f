#if canImport(Glibc)
import Glibc
#endif
import CEmuSystem
import EmuTCG
import Synchronization

/// What other threads of the process may touch of a guest thread: its id, its executor's
/// mailbox, its thread-directed pending signals and its blocked mask (read to pick a thread for
/// a process-directed signal).
///
/// `Sendable`: every field is immutable, an `Atomic`, a `SignalQueue` or the `Sendable` mailbox.
final class ThreadHandle: Sendable {
    /// The guest's thread id, which is the host thread's id (so gettid, tgkill and futex-based
    /// joins need no translation).
    let tid: Atomic<Int32>
    let mailbox: ExecutorMailbox
    /// Signals sent to this thread (tkill, tgkill, host signals it caught) and not yet
    /// delivered or taken.
    let pending = SignalQueue()
    /// The guest's signal mask of this thread.
    let blocked: Atomic<UInt64>

    init(tid: Int32, mailbox: ExecutorMailbox, blocked: UInt64) {
        self.tid = Atomic(tid)
        self.mailbox = mailbox
        self.blocked = Atomic(blocked)
    }

    /// Host signal that makes a thread leave translated code and a blocking host call (never
    /// blocked in a guest thread's host mask, never seen by the guest).
    static let kickSignal: Int32 = 63
    static let kickBit: UInt64 = 1 << UInt64(kickSignal - 1)

    /// Makes the thread look at its signals and the process state soon: it stops at the next
    /// block boundary, and a blocking call it is in returns EINTR.
    func kick() {
        mailbox.requestStop()
        let target = tid.load(ordering: .relaxed)
        if target != emu_gettid() {
            _ = emu_raw_syscall(234, Int(getpid()), Int(target), Int(Self.kickSignal), 0, 0, 0)
        }
    }
}
