#if canImport(Glibc)
import Glibc
#endif
import CEmuSystem
import EmuTCG

/// How a guest process ended.
public enum GuestExit: Sendable, Equatable {
    /// exit/exit_group with this status (0 … 255).
    case exited(Int32)
    /// Killed by this signal (an unhandled fault or a default-fatal signal).
    case signaled(Int32)
}

/// A Linux process emulated in user mode: its address space, CPU, executor and the kernel state
/// the emulator keeps for it (brk, mmap placement, signal dispositions and mask).
///
/// Not `Sendable`: the process runs on the thread that calls `run()`.
public final class LinuxProcess {
    public let memory: GuestAddressSpace
    public let cpu: CPUState
    public let executor: Executor
    /// Absolute host path of the executable (for /proc/self/exe and AT_EXECFN).
    public let executablePath: String
    /// Called with one line per system call when tracing (`--strace`).
    public var trace: ((String) -> Void)?

    var brkStart: UInt64 = 0
    var brkCurrent: UInt64 = 0
    /// mmap places mappings top-down below this address.
    let mmapCeiling: UInt64
    var signalActions = [GuestSignalAction](repeating: GuestSignalAction(), count: GuestSignal.count + 1)
    var signalMask: UInt64 = 0 {
        didSet { if forwardsHostSignals { emu_set_guest_blocked_signals(signalMask) } }
    }
    /// Whether host signals are forwarded to the guest (see `forwardHostSignals()`).
    var forwardsHostSignals = false
    /// Signals sent to the guest and not yet delivered (bit n-1 for signal n).
    var pendingSignals: UInt64 = 0
    /// Set by rt_sigreturn: the restored registers are not the system call's result.
    var keepRegistersAfterSyscall = false
    var exitStatus: GuestExit?
    var clearChildTID: UInt64 = 0
    /// In a vfork child: the pipe end whose closing (on execve or exit) releases the parent.
    var vforkNotifier: Int32 = -1
    /// Host path of the emulator, executed again for a guest execve (nil: execve is ENOSYS).
    public var emulatorPath: String?
    /// Options passed to the emulator on a guest execve (e.g. `--strace`).
    public var emulatorOptions: [String] = []

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

    /// Installs handlers that turn these host signals into guest signals: blocking guest system
    /// calls go through `emu_safe_syscall`, translated code stops at the next block boundary,
    /// and the guest's handler runs (with SA_RESTART honoured) or its default action is taken.
    /// Affects the whole host process; call it only from a program that is the emulator.
    public func forwardHostSignals() {
        forwardsHostSignals = true
        emu_set_guest_blocked_signals(signalMask)
        for signal in Self.forwardedSignals { _ = emu_forward_host_signal(signal) }
        executor.interruptWord = UnsafePointer(emu_host_pending_signals_address())
    }

    /// A host system call that may block: through the safe-syscall stub when host signals are
    /// forwarded (so a signal cannot be lost between the check and the kernel entry).
    func blockingSyscall(_ nr: Int, _ a1: Int, _ a2: Int, _ a3: Int, _ a4: Int, _ a5: Int, _ a6: Int) -> Int {
        forwardsHostSignals ? emu_safe_syscall(nr, a1, a2, a3, a4, a5, a6) : emu_raw_syscall(nr, a1, a2, a3, a4, a5, a6)
    }

    func takeHostSignals() {
        guard forwardsHostSignals else { return }
        pendingSignals |= emu_take_host_signals()
    }

    /// Runs the guest until it exits or dies of a signal.
    public func run() -> GuestExit {
        while exitStatus == nil {
            switch executor.run() {
            case .syscall:
                dispatchSyscall()
            case .exception(let e):
                let signal = GuestSignal.forException(e)
                trace?("--- \(Self.signalName(signal)) {pc=0x\(String(e.pc, radix: 16))\(Self.detail(e))} ---")
                // A synchronous fault runs the guest's handler unless it is blocked or ignored
                // (then, as on Linux, it kills).
                let blocked = signalMask & (1 << UInt64(signal - 1)) != 0
                if !blocked && SignalDelivery.hasHandler(self, signal) && SignalDelivery.deliver(self, SignalDelivery.info(for: e, memory: memory)) {
                    continue
                }
                exitStatus = .signaled(signal)
            case .stopRequested:
                takeHostSignals()
                deliverPendingSignals()
            }
        }
        return exitStatus ?? .exited(0)
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

    func dispatchSyscall() {
        let s = cpu.slots
        let number = s[0]
        let args = SyscallArgs(values: (s[7], s[6], s[2], s[10], s[8], s[9]))
        var result: Int64
        let entry = number < UInt64(SyscallTable.byNumber.count) ? SyscallTable.byNumber[Int(number)] : nil
        if let entry {
            switch entry.implementation {
            case .passThrough: result = SyscallTable.passThrough(entry, args, self, safe: forwardsHostSignals && entry.canBlock)
            case .custom(let f): result = f(self, args)
            }
        } else {
            result = -LinuxErrno.ENOSYS
        }
        takeHostSignals()
        if let entry, entry.canBlock, result == -512 || result == -LinuxErrno.EINTR,
           restartsAfterSignal(handlerPreventsRestart: Self.notRestartedAfterHandlers.contains(entry.number)) {
            // Interrupted before or inside the kernel: run the SYSCALL again after the handler
            // (SA_RESTART), or at once when the signal has no handler to run.
            trace?(StraceFormatter.line(entry: entry, number: number, args: args, result: -512, memory: memory) + " (restarted)")
            s[StateSlot.rip] &-= 2
            s[0] = number
            deliverPendingSignals()
            return
        }
        if result == -512 { result = -LinuxErrno.EINTR }
        if let trace {
            trace(StraceFormatter.line(entry: entry, number: number, args: args, result: result, memory: memory))
        }
        if keepRegistersAfterSyscall {
            keepRegistersAfterSyscall = false
        } else {
            // SYSCALL puts the return address in RCX and RFLAGS in R11.
            s[1] = s[StateSlot.rip]
            s[11] = cpu.rflags
            s[0] = UInt64(bitPattern: result)
        }
        deliverPendingSignals()
    }

    /// For an interrupted blocking call: whether it restarts (the signal to deliver has
    /// SA_RESTART, is ignored, or there is none) rather than failing with EINTR.
    /// Calls Linux does not restart after a handler ran, even with SA_RESTART (ERESTARTNOHAND:
    /// poll, select, pselect6, ppoll, nanosleep, clock_nanosleep, epoll_wait).
    static let notRestartedAfterHandlers: Set<Int> = [7, 23, 270, 271, 35, 230, 232, 281]

    func restartsAfterSignal(handlerPreventsRestart: Bool = false) -> Bool {
        let ready = pendingSignals & ~signalMask
        guard ready != 0 else { return true }
        let signal = Int(ready.trailingZeroBitCount + 1)
        let action = signalActions[signal]
        if action.handler > 1 { return !handlerPreventsRestart && action.flags & 0x1000_0000 != 0 } // SA_RESTART
        if action.handler == 1 || ProcessSyscalls.ignoredByDefault.contains(UInt64(signal)) { return true }
        return false
    }

    /// Delivers unblocked pending signals (sent by the guest to itself) after a system call.
    func deliverPendingSignals() {
        while exitStatus == nil {
            let ready = pendingSignals & ~signalMask
            if ready == 0 { return }
            let signal = Int32(ready.trailingZeroBitCount + 1)
            pendingSignals &= ~(1 << UInt64(signal - 1))
            let action = signalActions[Int(signal)]
            if action.handler == 1 { continue }
            if action.handler == 0 {
                if ProcessSyscalls.ignoredByDefault.contains(UInt64(signal)) { continue }
                exitStatus = .signaled(signal)
                return
            }
            let info = SignalDelivery.Info(signal: signal, code: 0, address: UInt64(getpid()) | UInt64(getuid()) << 32)
            trace?("--- \(Self.signalName(signal)) {si_code=SI_USER} ---")
            if !SignalDelivery.deliver(self, info) { exitStatus = .signaled(GuestSignal.SIGSEGV); return }
        }
    }
}
