#if canImport(Glibc)
import Glibc
#endif
import CEmuSystem
import EmuTCG
import Synchronization

/// How a guest process ended.
public enum GuestExit: Sendable, Equatable {
    /// exit/exit_group with this status (0 … 255).
    case exited(Int32)
    /// Killed by this signal (an unhandled fault or a default-fatal signal).
    case signaled(Int32)
}

/// A Linux process emulated in user mode: what its threads share — the address space and the
/// placement of mappings (brk, mmap), signal dispositions, process-directed pending signals,
/// the set of threads, and the exit of the whole group. Per-thread state (registers, executor,
/// signal mask, thread-directed signals, clear_child_tid, robust list) is in `GuestThread`.
///
/// Each guest thread runs on its own host thread; guest thread ids are host thread ids.
///
/// `@unchecked Sendable`: shared mutable state is behind `Mutex`es and `Atomic`s (`brkStart`
/// and `brkCurrent` only under `mappingLock`); `memory` is shared by design (see
/// `GuestAddressSpace`); `trace`, `emulatorPath`, `emulatorOptions` and `forwardsHostSignals`
/// are set before `run()` and only read afterwards; `mainThread` is used only by the thread
/// inside `run()`.
public final class LinuxProcess: @unchecked Sendable {
    public let memory: GuestAddressSpace
    /// The initial thread's registers (its `GuestThread` is `mainThread`).
    public let cpu: CPUState
    /// The initial thread's executor.
    public let executor: Executor
    /// Absolute host path of the executable (for /proc/self/exe and AT_EXECFN).
    public let executablePath: String
    /// Called with one line per system call when tracing (`--strace`), from any guest thread.
    public var trace: (@Sendable (String) -> Void)?

    /// Serialises changes to the guest's mappings (mmap, munmap, mprotect, mremap, brk, madvise).
    let mappingLock = Mutex<Void>(())
    var brkStart: UInt64 = 0
    var brkCurrent: UInt64 = 0
    /// mmap places mappings top-down below this address.
    let mmapCeiling: UInt64
    let signalActions = Mutex([GuestSignalAction](repeating: GuestSignalAction(), count: GuestSignal.count + 1))
    /// Process-directed signals (kill) not yet taken by a thread.
    let pendingSignals = SignalQueue()
    /// Whether host signals are forwarded to the guest (see `forwardHostSignals()`).
    var forwardsHostSignals = false
    /// The running threads.
    let threads = Mutex<[ThreadHandle]>([])
    /// Guest threads started and not yet ended; the initial thread's `run` waits for zero.
    let liveThreads = HostFutexWord(0)
    /// The group's exit status once decided (exit_group, a fatal signal, the last exit).
    let groupExit = Mutex<GuestExit?>(nil)
    /// Set with `groupExit` by exit_group or a fatal signal: every thread ends.
    let exiting = Atomic<Bool>(false)
    let kickHandlerInstalled = Atomic<Bool>(false)
    /// Host path of the emulator, executed again for a guest execve (nil: execve is ENOSYS).
    public var emulatorPath: String?
    /// Options passed to the emulator on a guest execve (e.g. `--strace`).
    public var emulatorOptions: [String] = []

    /// The initial thread (made on first use; `run()` runs it on the calling host thread).
    public private(set) lazy var mainThread = GuestThread(process: self, cpu: cpu, executor: executor, signalMask: 0,
                                                          isInitial: true)

    /// Stack: 8 MiB below this address.
    public static let stackTop: UInt64 = 0xF_F000_0000
    public static let stackSize: UInt64 = 8 << 20

    /// Loads the executable at `path` with `arguments` (argv, including argv[0]) and
    /// `environment` ("NAME=value" strings) and prepares the initial stack and registers. A
    /// dynamically linked program (PT_INTERP) gets its interpreter loaded as Linux does
    /// (`loadInterpreter`) and starts there, with AT_BASE and AT_ENTRY telling it the rest.
    /// - Throws: `LoaderError` for unreadable or malformed executables and interpreters;
    ///   `GuestAddressSpaceError` when the guest window cannot be reserved.
    public init(path: String, arguments: [String], environment: [String]) throws {
        let bytes = try Self.readFile(path)
        let image = try ELFImage(bytes: bytes)
        memory = try GuestAddressSpace()
        cpu = CPUState()
        executor = Executor(cpu: cpu, memory: memory)
        executablePath = Self.absolute(path)
        mmapCeiling = Self.stackTop - Self.stackSize - (1 << 30)
        let program = try ELFLoader.load(image, into: memory)
        var interpreter: LoadedProgram?
        if let interpreterPath = image.interpreterPath {
            interpreter = try Self.loadInterpreter(interpreterPath, into: memory, below: mmapCeiling)
        }
        brkStart = (program.end + 4095) & ~4095
        brkCurrent = brkStart
        try memory.map(Self.stackTop - Self.stackSize, length: Self.stackSize, [.read, .write])
        var random = [UInt8](repeating: 0, count: 16)
        _ = random.withUnsafeMutableBytes { emu_raw_syscall(318, Int(bitPattern: $0.baseAddress), 16, 0, 0, 0, 0) }
        let sp = try InitialStack.build(memory: memory, top: Self.stackTop, limit: Self.stackSize,
                                        arguments: arguments, environment: environment,
                                        executableName: path, program: program,
                                        interpreterBase: interpreter?.bias ?? 0,
                                        ids: (UInt64(getuid()), UInt64(geteuid()), UInt64(getgid()), UInt64(getegid())),
                                        random: random)
        cpu[gpr: 4] = sp
        cpu.rip = interpreter?.entry ?? program.entry
        // Linux starts x86-64 processes with RDX = 0 (no rtld_fini) and the rest zero.
    }

    /// Reads and loads the interpreter at `path`: an ET_DYN one at the highest free range
    /// below `ceiling` (as Linux places it, like an mmap without a hint), an ET_EXEC one at its
    /// own addresses, which must not overlap the program.
    /// - Throws: `LoaderError.badInterpreter` naming the path and what is wrong with it.
    static func loadInterpreter(_ path: String, into memory: GuestAddressSpace,
                                below ceiling: UInt64) throws(LoaderError) -> LoadedProgram {
        do throws(LoaderError) {
            let image = try ELFImage(bytes: readFile(path))
            if let nested = image.interpreterPath { throw .badInterpreter("\(path) itself needs the interpreter \(nested)") }
            let base = try ELFLoader.interpreterBase(for: image, in: memory, below: ceiling)
            return try ELFLoader.load(image, into: memory, base: base)
        } catch {
            if case .badInterpreter = error { throw error }
            throw .badInterpreter("\(path): \(error)")
        }
    }

    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buf = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buf, buf.count) != nil else { return path }
        let cwd = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return cwd + "/" + path
    }

    static func readFile(_ path: String) throws(LoaderError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .unreadable(path: path, errno: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .unreadable(path: path, errno: errno) }
        guard st.st_mode & S_IFMT == S_IFREG else { throw .notExecutable("not a regular file") }
        guard st.st_size > 0, st.st_size < 1 << 30 else { throw .notExecutable("size \(st.st_size)") }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return pread(fd, base + done, raw.count - done, off_t(done))
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw .unreadable(path: path, errno: n == 0 ? EIO : errno) }
            done += n
        }
        return bytes
    }

    /// Host signals forwarded to the guest: hang-up, interrupt, quit, the user signals, broken
    /// pipe, the three interval timers' (alarm, virtual alarm, profiling), termination, child
    /// status, window size.
    public static let forwardedSignals: [Int32] = [1, 2, 3, 10, 12, 13, 14, 15, 17, 26, 27, 28]
    static let forwardedMask: UInt64 = forwardedSignals.reduce(0) { $0 | 1 << UInt64($1 - 1) }

    /// Installs handlers that turn these host signals into guest signals: blocking guest system
    /// calls go through `emu_safe_syscall`, translated code stops at the next block boundary,
    /// and the guest's handler runs (with SA_RESTART honoured) or its default action is taken.
    /// Each guest thread's host signal mask follows its guest mask for these signals, so the
    /// kernel gives a process-directed signal to a thread that does not block it.
    /// Affects the whole host process; call it only from a program that is the emulator, before
    /// `run()`.
    ///
    /// The guest starts with the host thread's signal state, as a program the host had executed
    /// would (``ExecSignalHandover/adopt(into:)``): its mask, its pending signals, and SIG_IGN
    /// for the signals it ignores.
    public func forwardHostSignals() {
        forwardsHostSignals = true
        ExecSignalHandover.adopt(into: self)
        for signal in Self.forwardedSignals { _ = emu_forward_host_signal(signal) }
        installKickHandler()
    }

    /// The handler of the host signal that interrupts a guest thread (`ThreadHandle.kick`).
    func installKickHandler() {
        if kickHandlerInstalled.exchange(true, ordering: .acquiringAndReleasing) { return }
        _ = emu_forward_host_signal(ThreadHandle.kickSignal)
    }

    /// Runs the guest on the calling thread until the whole process ends: the initial thread
    /// returns and then waits for the others (a guest's main thread may `pthread_exit` while its
    /// other threads work on). Returns the group's exit status.
    public func run() -> GuestExit {
        let thread = mainThread
        liveThreads.add(1)
        thread.start()
        thread.runLoop()
        thread.finish()
        // After exit_group or a fatal signal the others are kicked and end at their next block
        // boundary or interrupted call; give them a bounded time (a thread stuck in a host call
        // the kick cannot interrupt must not hang the emulator).
        var waitedMilliseconds = 0
        while true {
            let live = liveThreads.value
            if live == 0 { break }
            if exiting.load(ordering: .acquiring) {
                if waitedMilliseconds >= 2000 { break }
                liveThreads.wait(whileEquals: live, milliseconds: 50)
                waitedMilliseconds += 50
            } else {
                liveThreads.wait(whileEquals: live)
            }
        }
        return groupExit.withLock { $0 } ?? .exited(0)
    }

    /// The group ends with `status` (unless already decided): every thread stops.
    func exitGroup(_ status: GuestExit) {
        groupExit.withLock { if $0 == nil { $0 = status } }
        exiting.store(true, ordering: .releasing)
        let me = emu_gettid()
        for handle in threads.withLock({ $0 }) where handle.tid.load(ordering: .relaxed) != me { handle.kick() }
    }

    /// A thread ended with exit(`status`): the last one decides the group's status.
    func threadEnded(_ handle: ThreadHandle, status: Int32) {
        threads.withLock { list in list.removeAll { $0 === handle } }
        let remaining = liveThreads.atomic.loadThenWrappingDecrement(ordering: .acquiringAndReleasing) &- 1
        if remaining == 0 { groupExit.withLock { if $0 == nil { $0 = .exited(status) } } }
        liveThreads.wakeAll()
    }

    /// The disposition of `signal` (1 … 64).
    func action(_ signal: Int) -> GuestSignalAction {
        signalActions.withLock { $0[signal] }
    }

    /// A process-directed signal: pending for the process; a thread that does not block it is
    /// made to look (the caller delivers it itself, after its system call, when it can).
    /// Returns false when a real-time signal could not be queued (too many pending).
    @discardableResult
    func raise(_ instance: QueuedSignal, from sender: ThreadHandle?) -> Bool {
        guard pendingSignals.post(instance) else { return false }
        let bit = PendingSignalSet.bit(instance.signal)
        if let sender, sender.blocked.load(ordering: .relaxed) & bit == 0 { return true }
        let handles = threads.withLock { $0 }
        if let target = handles.first(where: { $0 !== sender && $0.blocked.load(ordering: .relaxed) & bit == 0 }) {
            target.kick()
        }
        return true
    }

    /// A signal sent by this process to itself (kill, sigqueue): SI_USER (or `code`) from our
    /// own pid and uid.
    @discardableResult
    func raise(_ signal: Int32, code: Int32 = QueuedSignal.SI_USER, value: UInt64 = 0, from sender: ThreadHandle?) -> Bool {
        raise(QueuedSignal(signal: signal, code: code, sender: Self.ownSender, value: value), from: sender)
    }

    /// si_pid and si_uid of a signal this process sends (packed as in the siginfo).
    static var ownSender: UInt64 { UInt64(UInt32(bitPattern: getpid())) | UInt64(getuid()) << 32 }

    /// The guest mask of the thread group leader (the thread whose id is the process id), which
    /// Linux consults to decide whether a process-directed signal it would ignore is dropped;
    /// 0 once the leader has ended.
    var leaderBlocked: UInt64 {
        let pid = getpid()
        return threads.withLock { $0.first { $0.tid.load(ordering: .relaxed) == pid } }?.blocked.load(ordering: .relaxed) ?? 0
    }

    /// Drops every pending instance of `signal`, in the process's set and every thread's (as
    /// Linux does when the signal's action becomes "ignore"), and a forwarded one the host holds
    /// for the calling thread.
    func discardPending(_ signal: Int32) {
        pendingSignals.discard(signal)
        for handle in threads.withLock({ $0 }) { handle.pending.discard(signal) }
        if forwardsHostSignals && Self.forwardedMask & PendingSignalSet.bit(signal) != 0 {
            HostSignals.takePending(PendingSignalSet.bit(signal))
        }
    }

    /// In the child of a fork (on the forking thread): that thread is the only one. When it is
    /// not the thread inside `run()` (which does not exist in the child), it ends the host
    /// process itself.
    func becomeForkChild(of thread: GuestThread) {
        thread.handle.tid.store(emu_gettid(), ordering: .relaxed)
        threads.withLock { $0 = [thread.handle] }
        liveThreads.atomic.store(1, ordering: .releasing)
        pendingSignals.removeAll()
        thread.handle.pending.removeAll() // a fork child starts with no pending signals
        _ = emu_take_host_signals()
        thread.robustList = (0, 0) // Linux gives the child none; glibc registers its own again
        if !thread.isInitial { thread.endsHostProcess = true }
    }

    /// The handle of thread `tid`, if it is one of this process's running threads.
    func thread(tid: Int32) -> ThreadHandle? {
        threads.withLock { $0.first { $0.tid.load(ordering: .relaxed) == tid } }
    }

    static func detail(_ e: GuestException) -> String {
        if case .pageFault(_, let address, let write) = e {
            return ", addr=0x\(String(address, radix: 16)), \(write ? "write" : "read")"
        }
        return ""
    }

    static func signalName(_ s: Int32) -> String {
        switch s {
        case 4: return "SIGILL"
        case 5: return "SIGTRAP"
        case 8: return "SIGFPE"
        case 11: return "SIGSEGV"
        default: return "signal \(s)"
        }
    }
}
