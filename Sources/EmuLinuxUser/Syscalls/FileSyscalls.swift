#if canImport(Glibc)
import Glibc
#endif
import CEmuSystem
import EmuTCG

/// File calls that need more than pointer translation: vectors, ioctl, fcntl, poll, and
/// /proc/self/exe (which must name the guest program, not the emulator).
enum FileSyscalls {
    /// Host iovecs for a guest iovec array, each buffer checked; nil on a bad pointer.
    static func iovecs(_ p: GuestThread, _ address: UInt64, _ count: UInt64, write: Bool) -> [iovec]? {
        guard let raw = p.memory.read(address, count: Int(count) * 16) else { return nil }
        var result: [iovec] = []
        for i in 0..<Int(count) {
            var base: UInt64 = 0, length: UInt64 = 0
            for k in 0..<8 {
                base |= UInt64(raw[i * 16 + k]) << (8 * UInt64(k))
                length |= UInt64(raw[i * 16 + 8 + k]) << (8 * UInt64(k))
            }
            guard length <= UInt64(Int.max) else { return nil }
            if length == 0 { result.append(iovec(iov_base: nil, iov_len: 0)); continue }
            guard let host = p.memory.hostPointer(base, length: length, access: write ? .write : .read) else { return nil }
            result.append(iovec(iov_base: host, iov_len: Int(length)))
        }
        return result
    }

    static func vector(_ p: GuestThread, _ a: SyscallArgs, number: Int, write: Bool) -> Int64 {
        guard a[2] <= 1024 else { return -LinuxErrno.EINVAL }
        guard let vecs = iovecs(p, a[1], a[2], write: write) else { return -LinuxErrno.EFAULT }
        let r = vecs.withUnsafeBufferPointer {
            p.blockingSyscall(number, Int(truncatingIfNeeded: a[0]), Int(bitPattern: $0.baseAddress), vecs.count, 0, 0, 0)
        }
        if write && r > 0 {
            // Mark what the kernel filled (the vectors in order).
            var left = UInt64(r)
            for v in vecs where left > 0 {
                let n = min(left, UInt64(v.iov_len))
                if let b = v.iov_base { p.memory.didWrite(UInt64(UInt(bitPattern: b) - UInt(bitPattern: p.memory.base)), length: n) }
                left -= n
            }
        }
        return Int64(r)
    }

    static func readv(_ p: GuestThread, _ a: SyscallArgs) -> Int64 { vector(p, a, number: 19, write: true) }
    static func writev(_ p: GuestThread, _ a: SyscallArgs) -> Int64 { vector(p, a, number: 20, write: false) }

    static func poll(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        guard a[1] <= 65536 else { return -LinuxErrno.EINVAL }
        let length = a[1] * 8
        var ptr: UnsafeMutableRawPointer? = nil
        if length > 0 {
            guard let q = p.memory.hostPointer(a[0], length: length, access: .write) else { return -LinuxErrno.EFAULT }
            ptr = q
        }
        let r = p.blockingSyscall(7, Int(bitPattern: ptr), Int(a[1]), Int(truncatingIfNeeded: a[2]), 0, 0, 0)
        if r >= 0 && length > 0 { p.memory.didWrite(a[0], length: length) }
        return Int64(r)
    }

    /// Terminal and file ioctls with known argument layouts; anything else is ENOTTY.
    static func ioctl(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        let request = a[1] & 0xFFFF_FFFF
        enum Arg { case none, value, input(Int), output(Int) }
        let arg: Arg
        switch request {
        case 0x5401: arg = .output(36)                       // TCGETS
        case 0x5402, 0x5403, 0x5404: arg = .input(36)        // TCSETS, TCSETSW, TCSETSF
        case 0x5413: arg = .output(8)                        // TIOCGWINSZ
        case 0x5414: arg = .input(8)                         // TIOCSWINSZ
        case 0x540F, 0x5429, 0x541B: arg = .output(4)        // TIOCGPGRP, TIOCGSID, FIONREAD
        case 0x5410, 0x5421, 0x5452: arg = .input(4)         // TIOCSPGRP, FIONBIO, FIOASYNC
        case 0x540A, 0x540B, 0x540E: arg = .value            // TCXONC, TCFLSH, TIOCSCTTY
        case 0x5450, 0x5451: arg = .none                     // FIONCLEX, FIOCLEX
        default: return -LinuxErrno.ENOTTY
        }
        var hostArg = 0
        var written: UInt64 = 0
        switch arg {
        case .none: break
        case .value: hostArg = Int(truncatingIfNeeded: a[2])
        case .input(let n):
            guard let q = p.memory.hostPointer(a[2], length: UInt64(n), access: .read) else { return -LinuxErrno.EFAULT }
            hostArg = Int(bitPattern: q)
        case .output(let n):
            guard let q = p.memory.hostPointer(a[2], length: UInt64(n), access: .write) else { return -LinuxErrno.EFAULT }
            hostArg = Int(bitPattern: q)
            written = UInt64(n)
        }
        let r = emu_raw_syscall(16, Int(truncatingIfNeeded: a[0]), Int(request), hostArg, 0, 0, 0)
        if r >= 0 && written > 0 { p.memory.didWrite(a[2], length: written) }
        return Int64(r)
    }

    static func fcntl(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        let cmd = a[1] & 0xFFFF_FFFF
        var arg = Int(truncatingIfNeeded: a[2])
        switch cmd {
        case 0, 1, 2, 3, 4, 8, 9, 1030, 1031, 1032, 1033, 1034, 1024, 1025, 1026:
            break
        case 5, 6, 7, 36, 37, 38: // F_GETLK, F_SETLK, F_SETLKW and the OFD forms: struct flock
            guard let q = p.memory.hostPointer(a[2], length: 32, access: .write) else { return -LinuxErrno.EFAULT }
            arg = Int(bitPattern: q)
        default:
            return -LinuxErrno.EINVAL
        }
        let r = emu_raw_syscall(72, Int(truncatingIfNeeded: a[0]), Int(cmd), arg, 0, 0, 0)
        if r >= 0 && [5, 36].contains(cmd) { p.memory.didWrite(a[2], length: 32) }
        return Int64(r)
    }

    static func isSelfExe(_ path: [UInt8]) -> Bool {
        let s = String(decoding: path, as: UTF8.self)
        return s == "/proc/self/exe" || s == "/proc/\(getpid())/exe" || s == "/proc/thread-self/exe"
    }

    static func copyExecutable(_ p: GuestThread, to buffer: UInt64, size: UInt64) -> Int64 {
        let bytes = Array(p.process.executablePath.utf8.prefix(Int(min(size, 4096))))
        guard p.memory.hostPointer(buffer, length: UInt64(bytes.count), access: .write) != nil else { return -LinuxErrno.EFAULT }
        p.memory.poke(buffer, bytes)
        return Int64(bytes.count)
    }

    static func readlink(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        guard let path = p.memory.cString(at: a[0]) else { return -LinuxErrno.EFAULT }
        if isSelfExe(path) { return copyExecutable(p, to: a[1], size: a[2]) }
        guard let entry = SyscallTable.byNumber[89] else { return -LinuxErrno.ENOSYS }
        return SyscallTable.passThrough(SyscallEntry(89, entry.name, [.path, .outBuffer(length: 2), .int]), a, p)
    }

    static func readlinkat(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        guard let path = p.memory.cString(at: a[1]) else { return -LinuxErrno.EFAULT }
        if isSelfExe(path) { return copyExecutable(p, to: a[2], size: a[3]) }
        return SyscallTable.passThrough(SyscallEntry(267, "readlinkat", [.fd, .path, .outBuffer(length: 3), .int]), a, p)
    }
}
