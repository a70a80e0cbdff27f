import EmuTCG

/// Delivery of guest signals to guest handlers, with the x86-64 Linux `rt_sigframe`: the return
/// address (the handler's SA_RESTORER), a `ucontext` whose `sigcontext` holds the interrupted
/// registers, and the `siginfo`. `uc_mcontext.fpstate` points to the x87/SSE state in FXSAVE
/// format (`FXSaveArea`, 512 bytes, 64-byte aligned above the frame, as Linux lays it out for a
/// CPU without XSAVE); `rt_sigreturn` loads it back, so a handler's edits to it take effect. A
/// NULL `fpstate` resets that state; a misaligned or unreadable one, or an MXCSR with reserved
/// bits, makes the frame invalid (the guest dies of SIGSEGV, as Linux does it).
///
/// Delivered: synchronous faults (SIGSEGV, SIGILL, SIGFPE, SIGTRAP) at once, and pending
/// signals (sent by the guest to itself, or host signals forwarded to it) after the system call
/// that raised or unblocked them or at the next block boundary.
enum SignalDelivery {
    /// sizeof(struct rt_sigframe): pretcode, the 304-byte ucontext, the 128-byte siginfo.
    static let frameSize: UInt64 = 440
    static let fpstateSize = UInt64(FXSaveArea.size)
    /// The most stack one delivery uses (red zone, 64-byte aligned fpstate, 16-byte aligned
    /// frame): what AT_MINSIGSTKSZ tells the guest.
    static let minimumStackSize: UInt64 = 128 + fpstateSize + 63 + frameSize + 15 + 8
    static let SA_NODEFER: UInt64 = 0x4000_0000, SA_RESETHAND: UInt64 = 0x8000_0000, SA_RESTORER: UInt64 = 0x0400_0000
    static let SA_ONSTACK: UInt64 = 0x0800_0000

    /// Where sigcontext fields live, in 8-byte words from the start of `uc_mcontext`.
    static let gprOrder: [Int] = [8, 9, 10, 11, 12, 13, 14, 15, 7, 6, 5, 3, 2, 0, 1, 4] // r8…r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp

    /// siginfo fields for a delivery, and the sigcontext's trap number, error code and CR2.
    struct Info {
        var signal: Int32
        var code: Int32
        /// si_addr for faults; si_pid and si_uid (packed) for kill.
        var address: UInt64
        /// sigcontext.trapno: the x86 exception vector (0 for signals that are not faults).
        var trap: UInt64 = 0
        /// sigcontext.err: a page fault's error code (present, write, user, instruction fetch). The
    /// present bit says whether the page is mapped; Linux reports the hardware page table's, so
    /// there a mapped page never touched reads as not present.
        var error: UInt64 = 0
        /// sigcontext.cr2: the faulting address of a page fault.
        var faultAddress: UInt64 = 0
        /// si_value (sigqueue's value; 0 otherwise).
        var value: UInt64 = 0
    }

    /// The siginfo Linux gives for `e`: SEGV_MAPERR or SEGV_ACCERR (the page is mapped but
    /// forbids the access) with the page fault's error code, SI_KERNEL for #GP and #BP,
    /// ILL_ILLOPN, FPE_INTDIV and the FPE_FLT* code of the first unmasked SSE exception.
    static func info(for e: GuestException, memory: GuestAddressSpace) -> Info {
        let signal = GuestSignal.forException(e)
        switch e {
        case .pageFault(let pc, let address, let write):
            let present = memory.isMapped(address & ~(GuestAddressSpace.pageSize - 1), length: 1)
            let fetch = !write && address == pc
            let error: UInt64 = 4 | (write ? 2 : 0) | (present ? 1 : 0) | (fetch ? 16 : 0) // user, write, protection, fetch
            return Info(signal: signal, code: present ? 2 : 1, address: address, trap: 14, error: error, faultAddress: address)
        case .generalProtection: return Info(signal: signal, code: 128, address: 0, trap: 13) // SI_KERNEL
        case .invalidOpcode(let pc): return Info(signal: signal, code: 2, address: pc, trap: 6) // ILL_ILLOPN
        case .divideError(let pc): return Info(signal: signal, code: 1, address: pc, trap: 0) // FPE_INTDIV
        case .simdFloatingPoint(let pc, let exceptions):
            // Linux's order: invalid, divide by zero, overflow, underflow or denormal, inexact.
            let code: Int32
            if exceptions & 0x01 != 0 { code = 7 } // FPE_FLTINV
            else if exceptions & 0x04 != 0 { code = 3 } // FPE_FLTDIV
            else if exceptions & 0x08 != 0 { code = 4 } // FPE_FLTOVF
            else if exceptions & 0x12 != 0 { code = 5 } // FPE_FLTUND
            else { code = 6 } // FPE_FLTRES
            return Info(signal: signal, code: code, address: pc, trap: 19)
        case .breakpoint, .interrupted: return Info(signal: signal, code: 128, address: 0, trap: 3)
        }
    }

    /// Whether the guest has a handler for `signal` (not SIG_DFL or SIG_IGN).
    static func hasHandler(_ p: GuestThread, _ signal: Int32) -> Bool {
        signal >= 1 && Int(signal) <= GuestSignal.count && p.process.action(Int(signal)).handler > 1
    }

    static func bytes(_ words: [UInt64]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(words.count * 8)
        for w in words { for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: w >> (8 * UInt64(i)))) } }
        return out
    }

    /// Where the frame and its fpstate go for a handler with `flags` interrupting at `sp`:
    /// below the 128-byte red zone, or (SA_ONSTACK) at the top of the thread's alternate stack
    /// when one is set and the thread does not run on it yet. Nil when the frame would leave
    /// the alternate stack it is built on (entered now or already running on), or wrap around.
    static func placement(sp: UInt64, flags: UInt64, alternateStack stack: AlternateSignalStack) -> (frame: UInt64, fpstate: UInt64)? {
        let nested = stack.isRunningOn(sp)
        var top = sp &- 128
        var entering = false
        if flags & SA_ONSTACK != 0 && stack.switchesTo(from: top) {
            top = stack.base &+ stack.size
            entering = true
        }
        let fpstate = (top &- fpstateSize) & ~63
        let frame = ((fpstate &- frameSize) & ~15) &- 8 // as after a CALL: RSP ≡ 8 (mod 16) at the handler
        guard frame < top else { return nil }
        if (nested || entering) && !stack.contains(frame) { return nil }
        return (frame, fpstate)
    }

    /// Builds the frame on the guest stack (or the alternate stack, for SA_ONSTACK) and enters
    /// the handler. The frame saves `savedMask` (rt_sigsuspend's original mask) or else the
    /// current one, which sigreturn restores, and in uc_stack the alternate stack as set (an
    /// SS_AUTODISARM one is then disarmed until sigreturn restores it). Returns false when the
    /// frame cannot be written or would overflow the alternate stack (the guest then dies of
    /// SIGSEGV, as on Linux).
    static func deliver(_ p: GuestThread, _ info: Info, savedMask: UInt64? = nil) -> Bool {
        let action = p.process.action(Int(info.signal))
        let cpu = p.cpu
        let s = cpu.slots
        guard action.flags & SA_RESTORER != 0 else { return false }
        let stack = p.alternateStack
        guard let (frame, fpstate) = placement(sp: cpu[gpr: 4], flags: action.flags, alternateStack: stack),
              p.memory.hostPointer(frame, length: fpstate + fpstateSize - frame, access: .write) != nil else {
            return false
        }
        var sigcontext = [UInt64](repeating: 0, count: 32)
        for (k, r) in gprOrder.enumerated() { sigcontext[k] = s[r] }
        sigcontext[16] = cpu.rip
        sigcontext[17] = cpu.rflags
        sigcontext[18] = 0x002B_0000_0000_0033 // cs 0x33, ss 0x2b
        sigcontext[19] = info.error
        sigcontext[20] = info.trap
        sigcontext[21] = savedMask ?? p.signalMask
        sigcontext[22] = info.faultAddress // cr2
        sigcontext[23] = fpstate
        // pretcode; uc_flags UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS (UC_FP_XSTATE only comes with
        // XSAVE); uc_link; uc_stack {sp, flags, size}: the alternate stack with its flags as set
        // (as Linux 6 saves it: SS_ONSTACK is not added there).
        var words: [UInt64] = [action.restorer, 6, 0, stack.base, UInt64(stack.flags), stack.size]
        words += sigcontext
        words.append(savedMask ?? p.signalMask) // uc_sigmask
        var siginfo = [UInt64](repeating: 0, count: 16)
        siginfo[0] = UInt64(UInt32(bitPattern: info.signal))
        siginfo[1] = UInt64(UInt32(bitPattern: info.code))
        siginfo[2] = info.address
        siginfo[3] = info.value
        words += siginfo
        // FXSAVE leaves bytes 416…511 alone; Linux zeroes the software-reserved part (no XSAVE).
        let image = FXSaveArea.image(of: s) + [UInt8](repeating: 0, count: FXSaveArea.size - FXSaveArea.writtenSize)
        guard p.memory.poke(frame, bytes(words)), p.memory.poke(fpstate, image) else { return false }
        // Enter the handler: the signal (unless SA_NODEFER) and sa_mask are blocked meanwhile.
        var mask = p.signalMask | action.mask
        if action.flags & SA_NODEFER == 0 { mask |= 1 << UInt64(info.signal - 1) }
        p.signalMask = mask & ~((1 << 8) | (1 << 18))
        if stack.flags & AlternateSignalStack.SS_AUTODISARM != 0 { p.alternateStack = .disabled }
        if action.flags & SA_RESETHAND != 0 { p.process.signalActions.withLock { $0[Int(info.signal)] = GuestSignalAction() } }
        s[StateSlot.df] = 0
        cpu[gpr: 4] = frame
        cpu[gpr: 7] = UInt64(info.signal)
        cpu[gpr: 6] = frame + 8 + 312 - 8 // &siginfo (after pretcode and the 312-byte ucontext)
        cpu[gpr: 2] = frame + 8 // &ucontext
        cpu[gpr: 0] = 0
        cpu.rip = action.handler
        return true
    }

    /// rt_sigreturn: restores the interrupted state from the frame at RSP - 8, then the
    /// alternate stack from uc_stack as sigaltstack would set it at the restored RSP (a change
    /// it refuses is ignored, as on Linux).
    static func sigreturn(_ p: GuestThread) -> Bool {
        let cpu = p.cpu
        let s = cpu.slots
        let frame = cpu[gpr: 4] &- 8
        guard let raw = p.memory.read(frame, count: Int(frameSize)) else { return false }
        func word(_ i: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(raw[i * 8 + $1]) << (8 * UInt64($1)) } }
        let base = 6 // sigcontext starts after pretcode and the 40 bytes of uc_flags, uc_link, uc_stack
        // The x87/SSE state first: a bad fpstate fails the whole return before anything changes.
        let fpstate = word(base + 23)
        if fpstate == 0 {
            FXSaveArea.reset(s)
        } else {
            guard fpstate % FXSaveArea.alignment == 0,
                  let image = p.memory.read(fpstate, count: FXSaveArea.size) else { return false }
            do { try FXSaveArea.load(image, into: s) } catch { return false }
        }
        for (k, r) in gprOrder.enumerated() { s[r] = word(base + k) }
        cpu.rip = word(base + 16)
        cpu.rflags = word(base + 17)
        p.signalMask = word(base + 32) & ~((1 << 8) | (1 << 18))
        let saved = AlternateSignalStack(base: word(3), size: word(5), flags: UInt32(truncatingIfNeeded: word(4)))
        _ = p.alternateStack.change(to: saved, sp: cpu[gpr: 4])
        return true
    }
}

extension SignalDelivery.Info {
    /// The siginfo of a pending signal being delivered.
    init(_ instance: QueuedSignal) {
        self.init(signal: instance.signal, code: instance.code, address: instance.sender, value: instance.value)
    }
}
