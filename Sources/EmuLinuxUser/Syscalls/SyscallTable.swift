#if canImport(Glibc)
import Glibc
#endif
import CEmuSystem
import EmuTCG

/// The system call table: one `SyscallEntry` per implemented x86-64 Linux system call.
/// Numbers not in the table return ENOSYS (and show up under `--strace`).
public enum SyscallTable {
    /// Every entry.
    public static let entries: [SyscallEntry] = [
        SyscallEntry(0, "read", blocks: true, [.fd, .outBuffer(length: 2), .int]),
        SyscallEntry(1, "write", blocks: true, [.fd, .inBuffer(length: 2), .int]),
        SyscallEntry(2, "open", [.path, .hex, .hex]),
        SyscallEntry(3, "close", [.fd]),
        SyscallEntry(4, "stat", [.path, .outStruct(144)]),
        SyscallEntry(5, "fstat", [.fd, .outStruct(144)]),
        SyscallEntry(6, "lstat", [.path, .outStruct(144)]),
        SyscallEntry(7, "poll", blocks: true, [.pointer, .int, .int], .custom(FileSyscalls.poll)),
        SyscallEntry(8, "lseek", [.fd, .int, .int]),
        SyscallEntry(9, "mmap", [.hex, .int, .hex, .hex, .fd, .hex], .custom(MemorySyscalls.serialised(MemorySyscalls.mmap))),
        SyscallEntry(10, "mprotect", [.hex, .int, .hex], .custom(MemorySyscalls.serialised(MemorySyscalls.mprotect))),
        SyscallEntry(11, "munmap", [.hex, .int], .custom(MemorySyscalls.serialised(MemorySyscalls.munmap))),
        SyscallEntry(12, "brk", [.hex], .custom(MemorySyscalls.serialised(MemorySyscalls.brk))),
        SyscallEntry(13, "rt_sigaction", [.int, .pointer, .pointer, .int], .custom(SignalSyscalls.rtSigaction)),
        SyscallEntry(14, "rt_sigprocmask", [.int, .pointer, .pointer, .int], .custom(SignalSyscalls.rtSigprocmask)),
        SyscallEntry(15, "rt_sigreturn", [], .custom(SignalSyscalls.rtSigreturn)),
        SyscallEntry(16, "ioctl", [.fd, .hex, .hex], .custom(FileSyscalls.ioctl)),
        SyscallEntry(17, "pread64", blocks: true, [.fd, .outBuffer(length: 2), .int, .int]),
        SyscallEntry(18, "pwrite64", blocks: true, [.fd, .inBuffer(length: 2), .int, .int]),
        SyscallEntry(19, "readv", blocks: true, [.fd, .pointer, .int], .custom(FileSyscalls.readv)),
        SyscallEntry(20, "writev", blocks: true, [.fd, .pointer, .int], .custom(FileSyscalls.writev)),
        SyscallEntry(21, "access", [.path, .hex]),
        SyscallEntry(22, "pipe", [.outStruct(8)]),
        SyscallEntry(24, "sched_yield", []),
        SyscallEntry(25, "mremap", [.hex, .int, .int, .hex, .hex], .custom(MemorySyscalls.serialised(MemorySyscalls.mremap))),
        SyscallEntry(27, "mincore", [.hex, .int, .pointer], .custom(MemorySyscalls.serialised(MemorySyscalls.mincore))),
        SyscallEntry(28, "madvise", [.hex, .int, .int], .custom(MemorySyscalls.serialised(MemorySyscalls.madvise))),
        SyscallEntry(32, "dup", [.fd]),
        SyscallEntry(33, "dup2", [.fd, .fd]),
        SyscallEntry(35, "nanosleep", blocks: true, [.inStruct(16), .outStruct(16)]),
        // Interval timers are the host's (`TimerSyscalls`): the emulator's CPU time is the
        // guest's, and SIGALRM, SIGVTALRM and SIGPROF are forwarded to the guest.
        SyscallEntry(36, "getitimer", [.int, .outStruct(32)]),
        SyscallEntry(37, "alarm", [.int], .custom(TimerSyscalls.alarm)),
        SyscallEntry(38, "setitimer", [.int, .inStruct(32), .outStruct(32)], .custom(TimerSyscalls.setitimer)),
        SyscallEntry(39, "getpid", []),
        SyscallEntry(40, "sendfile", blocks: true, [.fd, .fd, .inOutStruct(8), .int]),
        // glibc's nscd client tries a Unix socket before reading /etc/passwd and /etc/group.
        SyscallEntry(41, "socket", [.int, .hex, .int]),
        SyscallEntry(42, "connect", blocks: true, [.fd, .inBuffer(length: 2), .int]),
        SyscallEntry(56, "clone", [.hex, .hex, .hex, .hex, .hex], .custom(ProcessLifecycleSyscalls.clone)),
        SyscallEntry(57, "fork", [], .custom(ProcessLifecycleSyscalls.fork)),
        SyscallEntry(58, "vfork", [], .custom(ProcessLifecycleSyscalls.vfork)),
        SyscallEntry(59, "execve", [.path, .pointer, .pointer], .custom(ProcessLifecycleSyscalls.execve)),
        SyscallEntry(60, "exit", [.int], .custom(ThreadSyscalls.exit)),
        SyscallEntry(61, "wait4", blocks: true, [.int, .outStruct(4), .hex, .outStruct(144)]),
        SyscallEntry(62, "kill", [.int, .int], .custom(ProcessSyscalls.kill)),
        SyscallEntry(63, "uname", [.outStruct(390)]),
        SyscallEntry(72, "fcntl", [.fd, .int, .hex], .custom(FileSyscalls.fcntl)),
        SyscallEntry(73, "flock", blocks: true, [.fd, .hex]),
        SyscallEntry(74, "fsync", blocks: true, [.fd]),
        SyscallEntry(75, "fdatasync", blocks: true, [.fd]),
        SyscallEntry(76, "truncate", [.path, .int]),
        SyscallEntry(77, "ftruncate", [.fd, .int]),
        SyscallEntry(79, "getcwd", [.outBuffer(length: 1), .int]),
        SyscallEntry(80, "chdir", [.path]),
        SyscallEntry(81, "fchdir", [.fd]),
        SyscallEntry(82, "rename", [.path, .path]),
        SyscallEntry(83, "mkdir", [.path, .hex]),
        SyscallEntry(84, "rmdir", [.path]),
        SyscallEntry(85, "creat", [.path, .hex]),
        SyscallEntry(86, "link", [.path, .path]),
        SyscallEntry(87, "unlink", [.path]),
        SyscallEntry(88, "symlink", [.path, .path]),
        SyscallEntry(89, "readlink", [.path, .outBuffer(length: 2), .int], .custom(FileSyscalls.readlink)),
        SyscallEntry(90, "chmod", [.path, .hex]),
        SyscallEntry(91, "fchmod", [.fd, .hex]),
        SyscallEntry(92, "chown", [.path, .int, .int]),
        SyscallEntry(93, "fchown", [.fd, .int, .int]),
        SyscallEntry(94, "lchown", [.path, .int, .int]),
        SyscallEntry(95, "umask", [.hex]),
        SyscallEntry(96, "gettimeofday", [.outStruct(16), .outStruct(8)]),
        SyscallEntry(97, "getrlimit", [.int, .outStruct(16)]),
        SyscallEntry(98, "getrusage", [.int, .outStruct(144)]),
        SyscallEntry(99, "sysinfo", [.outStruct(112)]),
        SyscallEntry(102, "getuid", []),
        SyscallEntry(104, "getgid", []),
        SyscallEntry(107, "geteuid", []),
        SyscallEntry(108, "getegid", []),
        SyscallEntry(109, "setpgid", [.int, .int]),
        SyscallEntry(110, "getppid", []),
        SyscallEntry(111, "getpgrp", []),
        SyscallEntry(115, "getgroups", [.int, .outBuffer(length: 0)], .custom(ProcessSyscalls.getgroups)),
        SyscallEntry(112, "setsid", []),
        SyscallEntry(121, "getpgid", [.int]),
        SyscallEntry(124, "getsid", [.int]),
        // Waits itself (through the safe-syscall stub); never restarted, as on Linux.
        SyscallEntry(127, "rt_sigpending", [.pointer, .int], .custom(SignalSyscalls.rtSigpending)),
        // Waits itself (through the safe-syscall stub), with the set unblocked meanwhile.
        SyscallEntry(128, "rt_sigtimedwait", [.pointer, .pointer, .pointer, .int], .custom(SignalSyscalls.rtSigtimedwait)),
        SyscallEntry(129, "rt_sigqueueinfo", [.int, .int, .pointer], .custom(ProcessSyscalls.rtSigqueueinfo)),
        SyscallEntry(130, "rt_sigsuspend", [.pointer, .int], .custom(SignalSyscalls.rtSigsuspend)),
        SyscallEntry(131, "sigaltstack", [.pointer, .pointer], .custom(SignalSyscalls.sigaltstack)),
        SyscallEntry(137, "statfs", [.path, .outStruct(120)]),
        SyscallEntry(138, "fstatfs", [.fd, .outStruct(120)]),
        SyscallEntry(158, "arch_prctl", [.hex, .hex], .custom(ProcessSyscalls.archPrctl)),
        SyscallEntry(186, "gettid", []),
        // Extended attributes (ls -l asks for ACLs and SELinux labels; cp -a copies them).
        SyscallEntry(188, "setxattr", [.path, .path, .inBuffer(length: 3), .int, .hex]),
        SyscallEntry(189, "lsetxattr", [.path, .path, .inBuffer(length: 3), .int, .hex]),
        SyscallEntry(190, "fsetxattr", [.fd, .path, .inBuffer(length: 3), .int, .hex]),
        SyscallEntry(191, "getxattr", [.path, .path, .outBuffer(length: 3), .int]),
        SyscallEntry(192, "lgetxattr", [.path, .path, .outBuffer(length: 3), .int]),
        SyscallEntry(193, "fgetxattr", [.fd, .path, .outBuffer(length: 3), .int]),
        SyscallEntry(194, "listxattr", [.path, .outBuffer(length: 2), .int]),
        SyscallEntry(195, "llistxattr", [.path, .outBuffer(length: 2), .int]),
        SyscallEntry(196, "flistxattr", [.fd, .outBuffer(length: 2), .int]),
        SyscallEntry(197, "removexattr", [.path, .path]),
        SyscallEntry(198, "lremovexattr", [.path, .path]),
        SyscallEntry(199, "fremovexattr", [.fd, .path]),
        SyscallEntry(200, "tkill", [.int, .int], .custom(ThreadSyscalls.tkill)),
        SyscallEntry(201, "time", [.outStruct(8)]),
        SyscallEntry(202, "futex", blocks: true, [.hex, .int, .int, .pointer, .pointer, .int], .custom(ThreadSyscalls.futex)),
        SyscallEntry(204, "sched_getaffinity", [.int, .int, .outBuffer(length: 1)]),
        SyscallEntry(217, "getdents64", [.fd, .outBuffer(length: 2), .int]),
        SyscallEntry(218, "set_tid_address", [.hex], .custom(ThreadSyscalls.setTidAddress)),
        SyscallEntry(221, "fadvise64", [.fd, .int, .int, .int]),
        SyscallEntry(222, "timer_create", [.int, .inStruct(64), .outStruct(4)], .custom(TimerSyscalls.timerCreate)),
        SyscallEntry(223, "timer_settime", [.int, .hex, .inStruct(32), .outStruct(32)]),
        SyscallEntry(224, "timer_gettime", [.int, .outStruct(32)]),
        SyscallEntry(225, "timer_getoverrun", [.int]),
        SyscallEntry(226, "timer_delete", [.int]),
        SyscallEntry(228, "clock_gettime", [.int, .outStruct(16)]),
        SyscallEntry(229, "clock_getres", [.int, .outStruct(16)]),
        SyscallEntry(230, "clock_nanosleep", blocks: true, [.int, .hex, .inStruct(16), .outStruct(16)]),
        SyscallEntry(231, "exit_group", [.int], .custom(ThreadSyscalls.exitGroup)),
        SyscallEntry(234, "tgkill", [.int, .int, .int], .custom(ThreadSyscalls.tgkill)),
        SyscallEntry(247, "waitid", blocks: true, [.int, .int, .outStruct(128), .hex, .outStruct(144)]),
        SyscallEntry(257, "openat", [.fd, .path, .hex, .hex]),
        SyscallEntry(258, "mkdirat", [.fd, .path, .hex]),
        SyscallEntry(260, "fchownat", [.fd, .path, .int, .int, .hex]),
        SyscallEntry(262, "newfstatat", [.fd, .path, .outStruct(144), .hex]),
        SyscallEntry(263, "unlinkat", [.fd, .path, .hex]),
        SyscallEntry(264, "renameat", [.fd, .path, .fd, .path]),
        SyscallEntry(265, "linkat", [.fd, .path, .fd, .path, .hex]),
        SyscallEntry(266, "symlinkat", [.path, .fd, .path]),
        SyscallEntry(267, "readlinkat", [.fd, .path, .outBuffer(length: 3), .int], .custom(FileSyscalls.readlinkat)),
        SyscallEntry(268, "fchmodat", [.fd, .path, .hex]),
        SyscallEntry(269, "faccessat", [.fd, .path, .hex]),
        SyscallEntry(273, "set_robust_list", [.hex, .int], .custom(ThreadSyscalls.setRobustList)),
        SyscallEntry(274, "get_robust_list", [.int, .pointer, .pointer], .custom(ThreadSyscalls.getRobustList)),
        SyscallEntry(280, "utimensat", [.fd, .path, .inStruct(32), .hex]),
        SyscallEntry(285, "fallocate", [.fd, .hex, .int, .int]),
        SyscallEntry(292, "dup3", [.fd, .fd, .hex]),
        SyscallEntry(293, "pipe2", [.outStruct(8), .hex]),
        SyscallEntry(297, "rt_tgsigqueueinfo", [.int, .int, .int, .pointer], .custom(ThreadSyscalls.rtTgsigqueueinfo)),
        SyscallEntry(302, "prlimit64", [.int, .int, .inStruct(16), .outStruct(16)]),
        SyscallEntry(316, "renameat2", [.fd, .path, .fd, .path, .hex]),
        SyscallEntry(318, "getrandom", blocks: true, [.outBuffer(length: 1), .int, .hex]),
        SyscallEntry(326, "copy_file_range", blocks: true, [.fd, .inOutStruct(8), .fd, .inOutStruct(8), .int, .hex]),
        SyscallEntry(332, "statx", [.fd, .path, .hex, .hex, .outStruct(256)]),
        SyscallEntry(334, "rseq", [.pointer, .int, .hex, .hex], .custom { _, _ in -LinuxErrno.ENOSYS }),
        // clone3: glibc tries it first and falls back to clone on ENOSYS.
        SyscallEntry(435, "clone3", [.pointer, .int], .custom { _, _ in -LinuxErrno.ENOSYS }),
        SyscallEntry(439, "faccessat2", [.fd, .path, .hex, .hex]),
    ]

    /// Entries indexed by number (nil where not implemented).
    public static let byNumber: [SyscallEntry?] = {
        var table = [SyscallEntry?](repeating: nil, count: 512)
        for e in entries { table[e.number] = e }
        return table
    }()

    /// Runs `entry` as the host system call of the same number with every pointer argument
    /// checked against the guest's page permissions and translated. A bad pointer gives EFAULT
    /// without calling the host; a path that names the emulator's own executable through
    /// /proc/self/exe is not special here (readlink is custom).
    static func passThrough(_ entry: SyscallEntry, _ args: SyscallArgs, _ process: GuestThread, safe: Bool = false) -> Int64 {
        let memory = process.memory
        var host: [Int] = [0, 0, 0, 0, 0, 0]
        var written: [(UInt64, UInt64)] = []
        var paths: [[CChar]] = []
        var pathSlots: [Int] = []
        for (i, kind) in entry.arguments.enumerated() {
            let value = args[i]
            switch kind {
            case .int, .hex, .fd, .pointer:
                host[i] = Int(bitPattern: UInt(value))
            case .path:
                if value == 0 { host[i] = 0; continue }
                guard let bytes = memory.cString(at: value) else { return -LinuxErrno.EFAULT }
                paths.append(bytes.map { CChar(bitPattern: $0) } + [0])
                pathSlots.append(i) // the pointer is filled in below, once the arrays stop moving
            case .inBuffer(let lengthIndex), .outBuffer(let lengthIndex):
                if value == 0 { host[i] = 0; continue }
                let length = args[lengthIndex]
                var access: PagePermissions = .read
                if case .outBuffer = kind { access = .write }
                guard let p = memory.hostPointer(value, length: length, access: access) else { return -LinuxErrno.EFAULT }
                host[i] = Int(bitPattern: p)
                if case .outBuffer = kind { written.append((value, length)) }
            case .inStruct(let size), .outStruct(let size), .inOutStruct(let size):
                if value == 0 { host[i] = 0; continue }
                var access: PagePermissions = .read
                if case .inStruct = kind {} else { access = .write }
                guard let p = memory.hostPointer(value, length: UInt64(size), access: access) else { return -LinuxErrno.EFAULT }
                host[i] = Int(bitPattern: p)
                if case .inStruct = kind {} else { written.append((value, UInt64(size))) }
            }
        }
        let result = withPaths(paths, pathSlots, host) { h in
            safe ? emu_safe_syscall(entry.number, h[0], h[1], h[2], h[3], h[4], h[5])
                 : emu_raw_syscall(entry.number, h[0], h[1], h[2], h[3], h[4], h[5])
        }
        if result >= 0 { for (a, n) in written { memory.didWrite(a, length: n) } }
        return Int64(result)
    }

    /// Calls `body` with argument `slots[k]` of `host` set to a pointer to the NUL-terminated
    /// copy `paths[k]`.
    static func withPaths(_ paths: [[CChar]], _ slots: [Int], _ host: [Int], _ body: ([Int]) -> Int) -> Int {
        var h = host
        func go(_ k: Int) -> Int {
            if k == paths.count { return body(h) }
            return paths[k].withUnsafeBufferPointer { buf in
                h[slots[k]] = Int(bitPattern: buf.baseAddress)
                return go(k + 1)
            }
        }
        return go(0)
    }
}
