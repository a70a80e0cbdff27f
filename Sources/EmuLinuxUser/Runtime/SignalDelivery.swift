import EmuTCG

/// Delivery of guest signals to guest handlers, with the x86-64 Linux `rt_sigframe`: the return
/// address (the handler's SA_RESTORER), a `ucontext` whose `sigcontext` holds the interrupted
/// registers, and the `siginfo`. The emulator's own copy of the whole register file (x87, SSE)
/// follows the frame and is restored by `rt_sigreturn`; `fpstate` is NULL.
///
/// Delivered now: synchronous faults (SIGSEGV, SIGILL, SIGFPE, SIGTRAP) and signals the guest
/// sends itself (kill, tkill, tgkill), after the system call that raised or unblocked them.
/// Asynchronous host signals and the interruptible blocking path are seed 001's work.
enum SignalDelivery {
    static let frameSize: UInt64 = 448
    static let stateSize = UInt64(StateSlot.count * 8)
    static let SA_NODEFER: UInt64 = 0x4000_0000, SA_RESETHAND: UInt64 = 0x8000_0000, SA_RESTORER: UInt64 = 0x0400_0000

    /// Where sigcontext fields live, in 8-byte words from the start of `uc_mcontext`.
    static let gprOrder: [Int] = [8, 9, 10, 11, 12, 13, 14, 15, 7, 6, 5, 3, 2, 0, 1, 4] // r8…r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp

    /// siginfo fields for a delivery.
    struct Info {
        var signal: Int32
        var code: Int32
        /// si_addr for faults; si_pid and si_uid (packed) for kill.
        var address: UInt64
    }

    static func info(for e: GuestException) -> Info {
        let signal = GuestSignal.forException(e)
        switch e {
        case .pageFault(_, let address, _): return Info(signal: signal, code: 1, address: address) // SEGV_MAPERR
        case .generalProtection: return Info(signal: signal, code: 128, address: 0) // SI_KERNEL
        case .invalidOpcode(let pc): return Info(signal: signal, code: 2, address: pc) // ILL_ILLOPN
        case .divideError(let pc): return Info(signal: signal, code: 1, address: pc) // FPE_INTDIV
        case .breakpoint: return Info(signal: signal, code: 128, address: 0)
        }
    }

    /// Whether the guest has a handler for `signal` (not SIG_DFL or SIG_IGN).
    static func hasHandler(_ p: LinuxProcess, _ signal: Int32) -> Bool {
        signal >= 1 && Int(signal) <= GuestSignal.count && p.signalActions[Int(signal)].handler > 1
    }

    static func bytes(_ words: [UInt64]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(words.count * 8)
        for w in words { for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: w >> (8 * UInt64(i)))) } }
        return out
    }

    /// Builds the frame on the guest stack and enters the handler. Returns false when the frame
    /// cannot be written (the guest then dies of SIGSEGV, as on Linux).
    static func deliver(_ p: LinuxProcess, _ info: Info) -> Bool {
        let action = p.signalActions[Int(info.signal)]
        let cpu = p.cpu
        let s = cpu.slots
        guard action.flags & SA_RESTORER != 0 else { return false }
        var sp = cpu[gpr: 4] &- 128 // the red zone
        sp = (sp &- stateSize) & ~15
        let stateAddress = sp
        sp = ((sp &- frameSize) & ~15) &- 8 // as after a CALL: RSP ≡ 8 (mod 16) at the handler
        let frame = sp
        guard p.memory.hostPointer(frame, length: frameSize + (stateAddress + stateSize - frame - frameSize), access: .write) != nil else {
            return false
        }
        var sigcontext = [UInt64](repeating: 0, count: 32)
        for (k, r) in gprOrder.enumerated() { sigcontext[k] = s[r] }
        sigcontext[16] = cpu.rip
        sigcontext[17] = cpu.rflags
        sigcontext[18] = 0x002B_0000_0000_0033 // cs 0x33, ss 0x2b
        sigcontext[20] = UInt64(info.signal == GuestSignal.SIGSEGV ? 14 : 0) // trapno
        sigcontext[21] = p.signalMask
        sigcontext[22] = info.address // cr2
        sigcontext[23] = 0 // fpstate: NULL (the emulator's copy follows the frame)
        sigcontext[24] = stateAddress // in reserved1: where that copy is
        var words: [UInt64] = [action.restorer, 0, 0, 0, 2, 0] // pretcode, uc_flags, uc_link, uc_stack{sp, flags=SS_DISABLE, size}
        words += sigcontext
        words.append(p.signalMask) // uc_sigmask
        var siginfo = [UInt64](repeating: 0, count: 16)
        siginfo[0] = UInt64(UInt32(bitPattern: info.signal))
        siginfo[1] = UInt64(UInt32(bitPattern: info.code))
        siginfo[2] = info.address
        words += siginfo
        var state = [UInt64](repeating: 0, count: StateSlot.count)
        for i in 0..<StateSlot.count { state[i] = s[i] }
        guard p.memory.poke(frame, bytes(words)), p.memory.poke(stateAddress, bytes(state)) else { return false }
        // Enter the handler: the signal (unless SA_NODEFER) and sa_mask are blocked meanwhile.
        var mask = p.signalMask | action.mask
        if action.flags & SA_NODEFER == 0 { mask |= 1 << UInt64(info.signal - 1) }
        p.signalMask = mask & ~((1 << 8) | (1 << 18))
        if action.flags & SA_RESETHAND != 0 { p.signalActions[Int(info.signal)] = GuestSignalAction() }
        s[StateSlot.df] = 0
        cpu[gpr: 4] = frame
        cpu[gpr: 7] = UInt64(info.signal)
        cpu[gpr: 6] = frame + 8 + 312 - 8 // &siginfo (after pretcode and the 312-byte ucontext)
        cpu[gpr: 2] = frame + 8 // &ucontext
        cpu[gpr: 0] = 0
        cpu.rip = action.handler
        return true
    }

    /// rt_sigreturn: restores the interrupted state from the frame at RSP - 8.
    static func sigreturn(_ p: LinuxProcess) -> Bool {
        let cpu = p.cpu
        let s = cpu.slots
        let frame = cpu[gpr: 4] &- 8
        guard let raw = p.memory.read(frame, count: Int(frameSize)) else { return false }
        func word(_ i: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(raw[i * 8 + $1]) << (8 * UInt64($1)) } }
        let base = 6 // sigcontext starts after pretcode and the 40 bytes of uc_flags, uc_link, uc_stack
        // The emulator's copy of the full state (x87, SSE, lazy flags), where delivery put it.
        if let state = p.memory.read(word(base + 24), count: Int(stateSize)) {
            for i in 0..<StateSlot.count {
                s[i] = (0..<8).reduce(0) { $0 | UInt64(state[i * 8 + $1]) << (8 * UInt64($1)) }
            }
        }
        for (k, r) in gprOrder.enumerated() { s[r] = word(base + k) }
        cpu.rip = word(base + 16)
        let flags = word(base + 17)
        cpu.rflags = flags
        p.signalMask = word(base + 32) & ~((1 << 8) | (1 << 18))
        return true
    }
}
