#if canImport(Glibc)
import Glibc
#endif
import CEmuSystem

/// The host kernel's signal state of the calling host thread, through raw system calls (the
/// kernel's 8-byte sigset and `struct sigaction`, not glibc's): what the guest inherits from the
/// host at start and hands on across execve, and forwarded signals the host holds pending while
/// the guest blocks them.
enum HostSignals {
    /// The calling thread's signals pending on the host (its own and the process's).
    static func pending() -> UInt64 {
        var set: UInt64 = 0
        let r = withUnsafeMutablePointer(to: &set) { emu_raw_syscall(127, Int(bitPattern: $0), 8, 0, 0, 0, 0) }
        return r == 0 ? set : 0
    }

    /// Takes every instance of the signals in `mask` that the host holds pending for the
    /// calling thread (real-time ones each with its siginfo), without waiting.
    @discardableResult
    static func takePending(_ mask: UInt64) -> [QueuedSignal] {
        var taken: [QueuedSignal] = []
        var set = mask
        var zero = timespec(tv_sec: 0, tv_nsec: 0)
        var info = [UInt8](repeating: 0, count: 128)
        // Bounded: the host queue is bounded too, but a sender that keeps sending must not
        // keep us here.
        while taken.count < PendingSignalSet.capacity {
            let r = withUnsafeMutablePointer(to: &set) { setPointer in
                withUnsafeMutablePointer(to: &zero) { timeout in
                    info.withUnsafeMutableBytes {
                        emu_raw_syscall(128, Int(bitPattern: setPointer), Int(bitPattern: $0.baseAddress), Int(bitPattern: timeout), 8, 0, 0)
                    }
                }
            }
            guard r > 0 else { break }
            taken.append(QueuedSignal(siginfo: info, signal: Int32(r)))
        }
        return taken
    }

    /// Queues `instance` on the calling host thread (rt_tgsigqueueinfo to itself keeps its
    /// siginfo). Returns the kernel's result.
    @discardableResult
    static func queueOnSelf(_ instance: QueuedSignal) -> Int {
        let info = instance.siginfo
        return info.withUnsafeBytes {
            emu_raw_syscall(297, Int(getpid()), Int(emu_gettid()), Int(instance.signal), Int(bitPattern: $0.baseAddress), 0, 0)
        }
    }

    /// Sets the calling thread's host mask to `mask`; returns the mask it had.
    @discardableResult
    static func setMask(_ mask: UInt64) -> UInt64 {
        var new = mask, old: UInt64 = 0
        _ = withUnsafeMutablePointer(to: &new) { n in
            withUnsafeMutablePointer(to: &old) { o in emu_raw_syscall(14, 2 /* SIG_SETMASK */, Int(bitPattern: n), Int(bitPattern: o), 8, 0, 0) }
        }
        return old
    }

    /// The calling thread's host mask.
    static func mask() -> UInt64 {
        var old: UInt64 = 0
        _ = withUnsafeMutablePointer(to: &old) { emu_raw_syscall(14, 0, 0, Int(bitPattern: $0), 8, 0, 0) }
        return old
    }

    /// The host's action for `signal` as the kernel stores it (handler, flags, restorer, mask).
    static func action(_ signal: Int32) -> [UInt64]? {
        var raw = [UInt64](repeating: 0, count: 4)
        let r = raw.withUnsafeMutableBytes { emu_raw_syscall(13, Int(signal), 0, Int(bitPattern: $0.baseAddress), 8, 0, 0) }
        return r == 0 ? raw : nil
    }

    /// Sets the host's action for `signal` (as `action(_:)` returned it, or SIG_IGN as [1, 0, 0, 0]).
    static func setAction(_ signal: Int32, _ raw: [UInt64]) {
        _ = raw.withUnsafeBytes { emu_raw_syscall(13, Int(signal), Int(bitPattern: $0.baseAddress), 0, 8, 0, 0) }
    }
}

extension QueuedSignal {
    /// The 128-byte x86-64 siginfo: si_signo, si_errno, si_code, then the sender (or a fault's
    /// address) at 16 and si_value at 24.
    var siginfo: [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 128)
        func put(_ offset: Int, _ value: UInt64, _ count: Int) {
            for i in 0..<count { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
        }
        put(0, UInt64(UInt32(bitPattern: signal)), 4)
        put(8, UInt64(UInt32(bitPattern: code)), 4)
        put(16, sender, 8)
        put(24, value, 8)
        return bytes
    }

    /// The instance a 128-byte siginfo describes (`signal` when its si_signo is not usable).
    init(siginfo bytes: [UInt8], signal: Int32) {
        func get(_ offset: Int, _ count: Int) -> UInt64 {
            guard bytes.count >= offset + count else { return 0 }
            return (0..<count).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
        }
        self.init(signal: signal, code: Int32(bitPattern: UInt32(truncatingIfNeeded: get(8, 4))),
                  sender: get(16, 8), value: get(24, 8))
    }
}
