#if canImport(Glibc)
import Glibc
#endif
import CEmuSystem
import EmuTCG

/// fork, vfork, clone (process forms) and execve.
///
/// A guest fork is a host fork of the whole emulator (the guest's memory is copied with it);
/// a guest execve executes the emulator again on the new program. Threads (CLONE_THREAD) are
/// `ThreadSyscalls.cloneThread`; other CLONE_VM forms without CLONE_VFORK are refused (EINVAL).
enum ProcessLifecycleSyscalls {
    static let CLONE_VM: UInt64 = 0x100, CLONE_VFORK: UInt64 = 0x4000, CLONE_SETTLS: UInt64 = 0x80000
    static let CLONE_PARENT_SETTID: UInt64 = 0x100000, CLONE_CHILD_CLEARTID: UInt64 = 0x200000
    static let CLONE_CHILD_SETTID: UInt64 = 0x1000000, CLONE_THREAD: UInt64 = 0x10000

    static func fork(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        forkProcess(p, flags: 17, stack: 0, parentTID: 0, childTID: 0, tls: 0)
    }

    static func vfork(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        forkProcess(p, flags: CLONE_VM | CLONE_VFORK | 17, stack: 0, parentTID: 0, childTID: 0, tls: 0)
    }

    static func clone(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        let flags = a[0]
        if flags & CLONE_THREAD != 0 {
            return ThreadSyscalls.cloneThread(p, flags: flags, stack: a[1], parentTID: a[2], childTID: a[3], tls: a[4])
        }
        if flags & CLONE_VM != 0 && flags & CLONE_VFORK == 0 { return -LinuxErrno.EINVAL }
        return forkProcess(p, flags: flags, stack: a[1], parentTID: a[2], childTID: a[3], tls: a[4])
    }

    static func store32(_ p: GuestThread, _ address: UInt64, _ value: Int32) {
        guard address != 0, let ptr = p.memory.hostPointer(address, length: 4, access: .write) else { return }
        ptr.storeBytes(of: value, as: Int32.self)
        p.memory.didWrite(address, length: 4)
    }

    /// Forks the host process. With CLONE_VFORK the parent waits until the child executes
    /// another program or exits (a close-on-exec pipe tells it), as vfork's caller expects.
    static func forkProcess(_ p: GuestThread, flags: UInt64, stack: UInt64, parentTID: UInt64, childTID: UInt64,
                            tls: UInt64) -> Int64 {
        var vforkPipe: [Int32] = [-1, -1]
        let waitsForChild = flags & CLONE_VFORK != 0
        if waitsForChild {
            let r = vforkPipe.withUnsafeMutableBufferPointer { emu_raw_syscall(293, Int(bitPattern: $0.baseAddress), Int(O_CLOEXEC), 0, 0, 0, 0) }
            if r < 0 { return Int64(r) }
        }
        let pid = Glibc.fork()
        if pid < 0 {
            let e = errno
            if waitsForChild { close(vforkPipe[0]); close(vforkPipe[1]) }
            return -Int64(e)
        }
        if pid == 0 {
            if waitsForChild { close(vforkPipe[0]); p.vforkNotifier = vforkPipe[1] }
            let tid = emu_gettid()
            p.process.becomeForkChild(of: p)
            if stack != 0 { p.cpu[gpr: 4] = stack }
            if flags & CLONE_SETTLS != 0 { p.cpu.fsBase = tls }
            if flags & CLONE_CHILD_SETTID != 0 { store32(p, childTID, tid) }
            if flags & CLONE_PARENT_SETTID != 0 { store32(p, parentTID, tid) }
            if flags & CLONE_CHILD_CLEARTID != 0 { p.clearChildTID = childTID }
            return 0
        }
        if flags & CLONE_PARENT_SETTID != 0 { store32(p, parentTID, pid) }
        if waitsForChild {
            close(vforkPipe[1])
            var byte: UInt8 = 0
            while read(vforkPipe[0], &byte, 1) < 0 && errno == EINTR {}
            close(vforkPipe[0])
        }
        return Int64(pid)
    }

    /// Reads a NULL-terminated array of guest string pointers (at most 65536 entries).
    static func stringArray(_ p: GuestThread, _ address: UInt64) -> [[UInt8]]? {
        var result: [[UInt8]] = []
        if address == 0 { return result }
        var a = address
        while result.count < 65536 {
            guard let ptr = p.memory.hostPointer(a, length: 8, access: .read) else { return nil }
            let s = ptr.loadUnaligned(as: UInt64.self)
            if s == 0 { return result }
            guard let bytes = p.memory.cString(at: s, limit: 128 * 1024) else { return nil }
            result.append(bytes)
            a &+= 8
        }
        return nil
    }

    static func execve(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        guard let rawPath = p.memory.cString(at: a[0]), let argv = stringArray(p, a[1]), let envp = stringArray(p, a[2]) else {
            return -LinuxErrno.EFAULT
        }
        var path = String(decoding: rawPath, as: UTF8.self)
        if FileSyscalls.isSelfExe(rawPath) { path = p.process.executablePath }
        var arguments = argv.map { String(decoding: $0, as: UTF8.self) }
        if arguments.isEmpty { arguments = [path] }
        // Check what the kernel would: the file exists, is executable, and is a format we run.
        guard access(path, X_OK) == 0 else { return -Int64(errno) }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return -Int64(errno) }
        var header = [UInt8](repeating: 0, count: 256)
        let n = header.withUnsafeMutableBytes { read(fd, $0.baseAddress, 256) }
        close(fd)
        guard n >= 4 else { return -8 } // ENOEXEC
        var argv0 = arguments[0]
        if header[0] == 0x23 && header[1] == 0x21 { // "#!interpreter [argument]"
            let line = header[2..<n].prefix { $0 != 0x0A }
            let words = String(decoding: line, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let interpreter = words.first else { return -8 }
            var newArguments = [interpreter]
            if words.count > 1 { newArguments.append(words[1...].joined(separator: " ")) }
            newArguments.append(path)
            newArguments += arguments.dropFirst()
            arguments = newArguments
            path = interpreter
            argv0 = interpreter
        } else if !(header[0] == 0x7F && header[1] == 0x45 && header[2] == 0x4C && header[3] == 0x46) {
            return -8 // ENOEXEC: the caller (a shell) may run it as a script
        }
        guard let emulator = p.process.emulatorPath else { return -LinuxErrno.ENOSYS }
        var hostArguments = [emulator] + p.process.emulatorOptions + ["--argv0", argv0, "--", path]
        hostArguments += arguments.dropFirst()
        let environment = envp.map { String(decoding: $0, as: UTF8.self) }
        // The emulator's own environment for the new image is the guest's environment. The
        // signal mask, pending signals and ignored signals go across through the host kernel.
        let handover = p.process.forwardsHostSignals ? ExecSignalHandover(p) : nil
        defer { handover?.undo(p) } // reached only when the execve failed
        let result = withCStrings(hostArguments) { argvPointer in
            withCStrings(environment) { envPointer in
                emu_raw_syscall(59, Int(bitPattern: argvPointer[0]), Int(bitPattern: argvPointer),
                                Int(bitPattern: envPointer), 0, 0, 0)
            }
        }
        return Int64(result)
    }

    /// Calls `body` with a NULL-terminated C array of copies of `strings` (freed afterwards).
    static func withCStrings(_ strings: [String], _ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int) -> Int {
        let array = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: strings.count + 1)
        for (i, s) in strings.enumerated() { array[i] = strdup(s) }
        array[strings.count] = nil
        defer {
            for i in 0..<strings.count { free(array[i]) }
            array.deallocate()
        }
        return body(array)
    }
}
