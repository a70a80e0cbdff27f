#if canImport(Glibc)
import Glibc
#endif
import EmuTCG
import Testing
@testable import EmuLinuxUser

@Suite struct SignalFrameTests {
    @Test func sigsuspendRunsTheHandlerWithTheOriginalMaskSavedAndReturnsEINTR() throws {
        let path = "/tmp/emu-user-sigsuspend-test-\(getpid()).elf"
        #expect(FileManagerLite.write(path, LoaderTests().elf(code: [0x0F, 0x05])))
        defer { unlink(path) }
        let p = try LinuxProcess(path: path, arguments: [path], environment: [])
        try p.memory.map(0x1000_0000, length: 0x1000, [.read, .write])
        func suspend(_ set: UInt64) -> Int64 {
            _ = p.memory.poke(0x1000_0000, (0..<8).map { UInt8(truncatingIfNeeded: set >> (8 * UInt64($0))) })
            return SignalSyscalls.rtSigsuspend(p.mainThread, SyscallArgs(values: (0x1000_0000, 8, 0, 0, 0, 0)))
        }
        #expect(SignalSyscalls.rtSigsuspend(p.mainThread, SyscallArgs(values: (0x1000_0000, 4, 0, 0, 0, 0))) == -LinuxErrno.EINVAL)
        #expect(SignalSyscalls.rtSigsuspend(p.mainThread, SyscallArgs(values: (0x7000_0000, 8, 0, 0, 0, 0))) == -LinuxErrno.EFAULT)
        // SIGUSR1 (handled) pending but blocked by the original mask; SIGINT pending and SIG_IGN.
        p.signalActions.withLock {
            $0[10] = GuestSignalAction(handler: 0x400100, flags: SignalDelivery.SA_RESTORER, restorer: 0x400200, mask: 0)
            $0[2] = GuestSignalAction(handler: 1, flags: 0, restorer: 0, mask: 0)
        }
        let t = p.mainThread
        t.signalMask = 1 << 9
        p.pendingSignals.post(QueuedSignal(signal: 10, code: 0, sender: 0))
        p.pendingSignals.post(QueuedSignal(signal: 2, code: 0, sender: 0))
        p.cpu.rip = 0x400078
        #expect(suspend(0) == -LinuxErrno.EINTR)
        let frame = p.cpu[gpr: 4]
        func word(_ a: UInt64) -> UInt64 { (p.memory.read(a, count: 8) ?? []).enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) } }
        #expect(p.cpu.rip == 0x400100 && p.pendingSignals.mask == 0, "handler entered; the ignored signal discarded")
        #expect(word(frame + 304) == 1 << 9, "uc_sigmask is the mask before rt_sigsuspend")
        #expect(word(frame + 48 + 13 * 8) == UInt64(bitPattern: -LinuxErrno.EINTR), "sigcontext.rax = -EINTR")
        #expect(t.keepRegistersAfterSyscall)
        t.keepRegistersAfterSyscall = false
        // Nothing pending and no host signal forwarding: nothing could wake it.
        t.signalMask = 1 << 3
        #expect(suspend(0) == -LinuxErrno.ENOSYS && t.signalMask == 1 << 3)
    }

    @Test func deliveryBuildsTheLinuxFrameAndSigreturnRestoresEverything() throws {
        let path = "/tmp/emu-user-signal-test-\(getpid()).elf"
        #expect(FileManagerLite.write(path, LoaderTests().elf(code: [0x0F, 0x05])))
        defer { unlink(path) }
        let p = try LinuxProcess(path: path, arguments: [path], environment: [])
        p.signalActions.withLock { $0[10] = GuestSignalAction(handler: 0x400100, flags: SignalDelivery.SA_RESTORER, restorer: 0x400200, mask: 1 << 11) }
        for r in 0..<16 where r != 4 { p.cpu[gpr: r] = 0x1000 + UInt64(r) }
        p.cpu.rip = 0x400078
        p.cpu.setXMM(3, low: 0xAAAA, high: 0xBBBB)
        p.cpu.rflags = RFlags.cf | RFlags.zf
        let rsp = p.cpu[gpr: 4]
        #expect(SignalDelivery.deliver(p.mainThread, .init(signal: 10, code: 0, address: 77)))
        let frame = p.cpu[gpr: 4]
        #expect(frame % 16 == 8 && frame < rsp - 128)
        #expect(p.cpu.rip == 0x400100 && p.cpu[gpr: 7] == 10 && p.cpu[gpr: 2] == frame + 8 && p.cpu[gpr: 6] == frame + 312)
        func word(_ a: UInt64) -> UInt64 { (p.memory.read(a, count: 8) ?? []).enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) } }
        #expect(word(frame) == 0x400200)                      // pretcode = sa_restorer
        #expect(word(frame + 8) == 6 && word(frame + 32) == 0) // uc_flags, uc_stack.ss_flags as Linux
        #expect(word(frame + 48 + 13 * 8) == 0x1000)          // sigcontext.rax
        #expect(word(frame + 48 + 16 * 8) == 0x400078)        // sigcontext.rip
        #expect(word(frame + 312) == 10 && word(frame + 328) == 77) // si_signo, si_addr
        // SIGUSR1 itself and sa_mask (SIGUSR2) are blocked inside the handler.
        #expect(p.mainThread.signalMask == (1 << 9) | (1 << 11))
        // The handler clobbers state, then returns through the restorer.
        p.cpu.setXMM(3, low: 0, high: 0)
        p.cpu[gpr: 0] = 0xDEAD
        p.cpu.rflags = 0
        p.cpu[gpr: 4] = frame + 8
        #expect(SignalDelivery.sigreturn(p.mainThread))
        #expect(p.cpu.rip == 0x400078 && p.cpu[gpr: 4] == rsp && p.cpu[gpr: 0] == 0x1000)
        #expect(p.cpu.xmm(3) == (0xAAAA, 0xBBBB))
        #expect(p.cpu.rflags & (RFlags.cf | RFlags.zf) == RFlags.cf | RFlags.zf && p.mainThread.signalMask == 0)
    }

    /// uc_mcontext.fpstate: an FXSAVE image, 64-byte aligned above the frame, holding the
    /// interrupted x87/SSE state; rt_sigreturn loads it back (edits included), resets that state
    /// for a NULL pointer and refuses a frame whose MXCSR has a reserved bit or whose pointer is
    /// misaligned.
    @Test func fpstateIsAnFXSAVEImageThatSigreturnLoads() throws {
        let path = "/tmp/emu-user-signal-test3-\(getpid()).elf"
        #expect(FileManagerLite.write(path, LoaderTests().elf(code: [0x0F, 0x05])))
        defer { unlink(path) }
        let p = try LinuxProcess(path: path, arguments: [path], environment: [])
        p.signalActions.withLock { $0[10] = GuestSignalAction(handler: 0x400100, flags: SignalDelivery.SA_RESTORER, restorer: 0x400200, mask: 0) }
        func word(_ a: UInt64) -> UInt64 { (p.memory.read(a, count: 8) ?? []).enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) } }
        func setWord(_ a: UInt64, _ v: UInt64) { p.memory.poke(a, (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) }) }
        func prepare() -> (frame: UInt64, fpstate: UInt64) {
            p.cpu.rip = 0x400078
            p.cpu.setXMM(0, low: 0x1111, high: 0x2222)
            p.cpu.setXMM(15, low: 0xF0F0, high: 0x0F0F)
            p.cpu.slots[StateSlot.mxcsr] = 0x7F80 // round toward zero
            p.cpu.slots[StateSlot.fpuControl] = 0x0F7F
            // One x87 value pushed: 3.5 in ST0 (physical register 7).
            p.cpu.slots[StateSlot.fpuTop] = 7
            p.cpu.slots[StateSlot.fpuEmpty] = 0x7F
            p.cpu.slots[StateSlot.x87Base + 14] = 0xE000_0000_0000_0000
            p.cpu.slots[StateSlot.x87Base + 15] = 0x4000
            let rsp = p.cpu[gpr: 4]
            #expect(SignalDelivery.deliver(p.mainThread, .init(signal: 10, code: 0, address: 0)))
            let frame = p.cpu[gpr: 4]
            let fpstate = word(frame + 48 + 23 * 8)
            #expect(fpstate % 64 == 0 && fpstate > frame + 440 - 8 && fpstate + 512 <= rsp - 128)
            return (frame, fpstate)
        }
        let (frame, fpstate) = prepare()
        #expect(word(fpstate) & 0xFFFF == 0x0F7F)                   // FCW
        #expect((word(fpstate) >> 16) & 0xFFFF == 7 << 11)          // FSW: TOP = 7
        #expect((word(fpstate) >> 32) & 0xFF == 0x80)               // abridged tag: physical 7 valid
        #expect(word(fpstate + 24) == 0xFFFF_0000_7F80)             // MXCSR, MXCSR_MASK
        #expect(word(fpstate + 32) == 0xE000_0000_0000_0000 && word(fpstate + 40) == 0x4000) // ST0 = 3.5
        #expect(word(fpstate + 160) == 0x1111 && word(fpstate + 168) == 0x2222) // XMM0
        #expect(word(fpstate + 160 + 15 * 16) == 0xF0F0)            // XMM15
        #expect((0..<12).allSatisfy { word(fpstate + 416 + 8 * UInt64($0)) == 0 })
        // The handler clobbers the registers and edits the saved XMM0 and MXCSR.
        p.cpu.setXMM(0, low: 0, high: 0); p.cpu.setXMM(15, low: 0, high: 0)
        p.cpu.slots[StateSlot.mxcsr] = 0x1F80
        p.cpu.slots[StateSlot.fpuTop] = 0; p.cpu.slots[StateSlot.fpuEmpty] = 0xFF
        setWord(fpstate + 160, 0xABCD)
        setWord(fpstate + 24, 0xFFFF_0000_3F80)
        p.cpu[gpr: 4] = frame + 8
        #expect(SignalDelivery.sigreturn(p.mainThread))
        #expect(p.cpu.xmm(0) == (0xABCD, 0x2222) && p.cpu.xmm(15) == (0xF0F0, 0x0F0F))
        #expect(p.cpu.slots[StateSlot.mxcsr] == 0x3F80 && p.cpu.slots[StateSlot.fpuControl] == 0x0F7F)
        #expect(p.cpu.slots[StateSlot.fpuTop] == 7 && p.cpu.slots[StateSlot.fpuEmpty] == 0x7F)
        #expect(p.cpu.slots[StateSlot.x87Base + 14] == 0xE000_0000_0000_0000 && p.cpu.slots[StateSlot.x87Base + 15] == 0x4000)
        p.mainThread.signalMask = 0
        // A reserved MXCSR bit in the frame: the return fails (the caller kills with SIGSEGV).
        let second = prepare()
        setWord(second.fpstate + 24, 0xFFFF_0001_1F80)
        p.cpu[gpr: 4] = second.frame + 8
        #expect(!SignalDelivery.sigreturn(p.mainThread))
        p.mainThread.signalMask = 0
        // A misaligned fpstate pointer fails too.
        let third = prepare()
        setWord(third.frame + 48 + 23 * 8, third.fpstate + 8)
        p.cpu[gpr: 4] = third.frame + 8
        #expect(!SignalDelivery.sigreturn(p.mainThread))
        p.mainThread.signalMask = 0
        // NULL: the x87/SSE state is reset.
        let fourth = prepare()
        setWord(fourth.frame + 48 + 23 * 8, 0)
        p.cpu[gpr: 4] = fourth.frame + 8
        #expect(SignalDelivery.sigreturn(p.mainThread))
        #expect(p.cpu.xmm(0) == (0, 0) && p.cpu.slots[StateSlot.mxcsr] == 0x1F80 && p.cpu.slots[StateSlot.fpuEmpty] == 0xFF)
        #expect(p.cpu.rip == 0x400078)
    }

    /// siginfo and the sigcontext's trapno, err and cr2 as Linux fills them for each fault.
    @Test func faultsGetLinuxsCodesTrapNumbersAndErrorCodes() throws {
        let path = "/tmp/emu-user-signal-test4-\(getpid()).elf"
        #expect(FileManagerLite.write(path, LoaderTests().elf(code: [0x0F, 0x05])))
        defer { unlink(path) }
        let p = try LinuxProcess(path: path, arguments: [path], environment: [])
        let code: UInt64 = 0x400078 // the ELF's code page: mapped, not writable
        let write = SignalDelivery.info(for: .pageFault(pc: code, address: code + 8, write: true), memory: p.memory)
        #expect(write.signal == 11 && write.code == 2 && write.trap == 14 && write.error == 7 && write.faultAddress == code + 8)
        let unmapped = SignalDelivery.info(for: .pageFault(pc: code, address: 0x1234, write: false), memory: p.memory)
        #expect(unmapped.code == 1 && unmapped.error == 4 && unmapped.address == 0x1234)
        let gp = SignalDelivery.info(for: .generalProtection(pc: code), memory: p.memory)
        #expect(gp.signal == 11 && gp.code == 128 && gp.trap == 13 && gp.address == 0 && gp.faultAddress == 0)
        let ud = SignalDelivery.info(for: .invalidOpcode(pc: code), memory: p.memory)
        #expect(ud.signal == 4 && ud.code == 2 && ud.trap == 6 && ud.address == code)
        let xm = SignalDelivery.info(for: .simdFloatingPoint(pc: code, exceptions: 0x24), memory: p.memory)
        #expect(xm.signal == 8 && xm.code == 3 && xm.trap == 19 && xm.address == code)
        // In the frame: err, trapno and cr2 at words 19, 20, 22 of uc_mcontext.
        p.signalActions.withLock { $0[11] = GuestSignalAction(handler: 0x400100, flags: SignalDelivery.SA_RESTORER, restorer: 0x400200, mask: 0) }
        #expect(SignalDelivery.deliver(p.mainThread, write))
        let frame = p.cpu[gpr: 4]
        func word(_ a: UInt64) -> UInt64 { (p.memory.read(a, count: 8) ?? []).enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) } }
        #expect(word(frame + 48 + 19 * 8) == 7 && word(frame + 48 + 20 * 8) == 14 && word(frame + 48 + 22 * 8) == code + 8)
    }

    @Test func anUnwritableStackMeansNoDelivery() throws {
        let path = "/tmp/emu-user-signal-test2-\(getpid()).elf"
        #expect(FileManagerLite.write(path, LoaderTests().elf(code: [0x0F, 0x05])))
        defer { unlink(path) }
        let p = try LinuxProcess(path: path, arguments: [path], environment: [])
        p.signalActions.withLock { $0[11] = GuestSignalAction(handler: 0x400100, flags: SignalDelivery.SA_RESTORER, restorer: 0x400200, mask: 0) }
        p.cpu[gpr: 4] = 0x7000_0000 // unmapped
        #expect(!SignalDelivery.deliver(p.mainThread, .init(signal: 11, code: 1, address: 0)))
    }
}
