#if canImport(Glibc)
import Glibc
#endif
import CEmuSystem
import EmuTCG

/// Starts a cloned guest thread on a new host thread. The new thread learns its id, writes it
/// where CLONE_PARENT_SETTID / CLONE_CHILD_SETTID ask, registers with the process and only then
/// lets the parent's clone return, so the id is in guest memory before either side runs on
/// (glibc reads it in the new thread at once, e.g. as a mutex owner).
enum ThreadSpawner {
    /// What the new host thread needs; handed over once through the pthread argument.
    /// `@unchecked Sendable`: the parent creates it and does not touch `thread` afterwards; the
    /// child is its only user from then on (`startup` is a `Sendable` word both use).
    final class Start: @unchecked Sendable {
        let process: LinuxProcess
        let thread: GuestThread
        let parentTID: UInt64?
        let childTID: UInt64?
        /// 0 until the child has started; then its tid.
        let startup = HostFutexWord(0)
        init(process: LinuxProcess, thread: GuestThread, parentTID: UInt64?, childTID: UInt64?) {
            self.process = process
            self.thread = thread
            self.parentTID = parentTID
            self.childTID = childTID
        }
    }

    /// Host stack of a guest thread's host thread (the emulator's own frames; the guest's stack
    /// is in guest memory).
    static let hostStackSize = 8 << 20

    /// Starts `thread`; returns its tid, or a negative errno when no host thread could be made.
    static func spawn(_ thread: GuestThread, parentTID: UInt64?, childTID: UInt64?) -> Int64 {
        let process = thread.process
        let start = Start(process: process, thread: thread, parentTID: parentTID, childTID: childTID)
        process.installKickHandler()
        process.liveThreads.add(1)
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, hostStackSize)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var host = pthread_t()
        let box = Unmanaged.passRetained(start).toOpaque()
        let rc = pthread_create(&host, &attributes, { raw in
            guard let raw else { return nil }
            ThreadSpawner.body(Unmanaged<Start>.fromOpaque(raw).takeRetainedValue())
            return nil
        }, box)
        if rc != 0 {
            Unmanaged<Start>.fromOpaque(box).release()
            process.liveThreads.atomic.wrappingDecrement(ordering: .acquiringAndReleasing)
            return -LinuxErrno.EAGAIN
        }
        while start.startup.value == 0 { start.startup.wait(whileEquals: 0) }
        return Int64(Int32(bitPattern: start.startup.value))
    }

    static func body(_ start: Start) {
        let thread = start.thread
        let tid = emu_gettid()
        emu_set_thread_name("emu-guest-\(tid)")
        for address in [start.parentTID, start.childTID].compactMap({ $0 }) {
            ProcessLifecycleSyscalls.store32(thread, address, tid)
        }
        thread.start()
        start.startup.set(UInt32(bitPattern: tid))
        thread.runLoop()
        thread.finish()
        if thread.endsHostProcess, let status = start.process.groupExit.withLock({ $0 }) {
            status.endHostProcess()
        }
    }
}

extension GuestExit {
    /// Ends the host process the way the guest ended: exit with its status, or death by its
    /// signal (default action restored and the signal raised).
    public func endHostProcess() -> Never {
        switch self {
        case .exited(let code):
            exit(code)
        case .signaled(let s):
            signal(s, SIG_DFL)
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, s)
            sigprocmask(SIG_UNBLOCK, &set, nil)
            Glibc.raise(s)
            exit(128 + s)
        }
    }
}
