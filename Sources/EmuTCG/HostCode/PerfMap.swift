import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `/tmp/perf-PID.map` for `perf`: with `EMU_TCG_PERF_MAP=1`, every block compiled to host code
/// adds a line "START SIZE guest_0xRIP" (hexadecimal host address and byte count), so `perf
/// report` names host samples by the guest block they ran. A forked child writes its own file.
/// After a code-buffer flush the addresses are reused, and the newer line describes them.
enum PerfMap {
    /// Whether `EMU_TCG_PERF_MAP=1` was set at start.
    static let enabled: Bool = {
        guard let raw = getenv("EMU_TCG_PERF_MAP") else { return false }
        return String(cString: raw) == "1"
    }()

    /// The open map of the process that opened it (pid, fd).
    private static let file = Mutex<(pid: pid_t, fd: Int32)?>(nil)

    /// Appends the line of a block of `size` bytes at host `start` translated from guest `pc`.
    /// A file that cannot be opened or written is skipped silently (it is a debugging aid).
    static func record(start: UInt, size: Int, guestPC pc: UInt64) {
        let line = String(start, radix: 16) + " " + String(size, radix: 16) + " guest_0x" + String(pc, radix: 16) + "\n"
        file.withLock { state in
            let pid = getpid()
            if let current = state, current.pid != pid {
                close(current.fd) // the parent's, inherited by fork
                state = nil
            }
            if state == nil {
                let fd = Glibc.open("/tmp/perf-\(pid).map", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
                guard fd >= 0 else { return }
                state = (pid, fd)
            }
            guard let fd = state?.fd else { return }
            _ = line.withCString { write(fd, $0, strlen($0)) }
        }
    }
}
