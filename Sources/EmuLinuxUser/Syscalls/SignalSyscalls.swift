import EmuTCG

/// rt_sigaction, rt_sigprocmask, sigaltstack: recorded for the guest (host dispositions and the
/// host mask stay the emulator's). Delivery of guest signals lands with seed 001's work.
enum SignalSyscalls {
    static func rtSigaction(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        let signal = a[0]
        guard a[3] == 8, signal >= 1, signal <= UInt64(GuestSignal.count) else { return -LinuxErrno.EINVAL }
        let memory = p.memory
        var newAction: GuestSignalAction? = nil
        if a[1] != 0 {
            guard signal != 9, signal != 19 else { return -LinuxErrno.EINVAL }
            guard let raw = memory.read(a[1], count: 32) else { return -LinuxErrno.EFAULT }
            func word(_ i: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(raw[i * 8 + $1]) << (8 * UInt64($1)) } }
            newAction = GuestSignalAction(handler: word(0), flags: word(1), restorer: word(2), mask: word(3))
        }
        if a[2] != 0 {
            let old = p.process.action(Int(signal))
            var bytes: [UInt8] = []
            for w in [old.handler, old.flags, old.restorer, old.mask] {
                for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: w >> (8 * UInt64(i)))) }
            }
            guard memory.hostPointer(a[2], length: 32, access: .write) != nil else { return -LinuxErrno.EFAULT }
            memory.poke(a[2], bytes)
        }
        if let newAction { p.process.signalActions.withLock { $0[Int(signal)] = newAction } }
        return 0
    }

    static func rtSigprocmask(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        guard a[3] == 8 else { return -LinuxErrno.EINVAL }
        let memory = p.memory
        let old = p.signalMask
        if a[1] != 0 {
            guard let ptr = memory.hostPointer(a[1], length: 8, access: .read) else { return -LinuxErrno.EFAULT }
            let set = ptr.loadUnaligned(as: UInt64.self) & ~((1 << 8) | (1 << 18)) // SIGKILL, SIGSTOP bits
            switch a[0] {
            case 0: p.signalMask = old | set
            case 1: p.signalMask = old & ~set
            case 2: p.signalMask = set
            default: return -LinuxErrno.EINVAL
            }
        }
        if a[2] != 0 {
            guard let ptr = memory.hostPointer(a[2], length: 8, access: .write) else { return -LinuxErrno.EFAULT }
            ptr.storeBytes(of: old, toByteOffset: 0, as: UInt64.self)
            memory.didWrite(a[2], length: 8)
        }
        return 0
    }

    static func rtSigreturn(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        guard SignalDelivery.sigreturn(p) else {
            p.process.exitGroup(.signaled(GuestSignal.SIGSEGV))
            return 0
        }
        p.keepRegistersAfterSyscall = true
        return 0
    }

    static func sigaltstack(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        if a[1] != 0 {
            guard let ptr = p.memory.hostPointer(a[1], length: 24, access: .write) else { return -LinuxErrno.EFAULT }
            ptr.initializeMemory(as: UInt8.self, repeating: 0, count: 24)
            ptr.storeBytes(of: UInt32(2), toByteOffset: 8, as: UInt32.self) // SS_DISABLE
            p.memory.didWrite(a[1], length: 24)
        }
        if a[0] != 0 {
            guard p.memory.hostPointer(a[0], length: 24, access: .read) != nil else { return -LinuxErrno.EFAULT }
        }
        return 0
    }
}
