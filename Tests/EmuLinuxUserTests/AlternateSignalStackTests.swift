#if canImport(Glibc)
import Glibc
#endif
import EmuTCG
import Testing
@testable import EmuLinuxUser

/// sigaltstack's argument checks and reports, and where SA_ONSTACK puts the signal frame.
@Suite struct AlternateSignalStackTests {
    static let scratch: UInt64 = 0x1000_0000 // stack_t structures
    static let altBase: UInt64 = 0x2000_0000
    static let altSize: UInt64 = 0x4000

    func process(_ tag: String) throws -> (LinuxProcess, String) {
        let path = "/tmp/emu-user-altstack-\(tag)-\(getpid()).elf"
        #expect(FileManagerLite.write(path, LoaderTests().elf(code: [0x0F, 0x05])))
        let p = try LinuxProcess(path: path, arguments: [path], environment: [])
        try p.memory.map(Self.scratch, length: 0x1000, [.read, .write])
        try p.memory.map(Self.altBase, length: Self.altSize, [.read, .write])
        return (p, path)
    }

    func word(_ p: LinuxProcess, _ a: UInt64) -> UInt64 {
        (p.memory.read(a, count: 8) ?? []).enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }

    /// Writes a stack_t at `scratch` and calls sigaltstack(scratch or 0, scratch + 64 or 0).
    func sigaltstack(_ p: LinuxProcess, set: AlternateSignalStack?, query: Bool = true) -> Int64 {
        if let set { _ = p.memory.poke(Self.scratch, set.guestBytes(flags: set.flags)) }
        return SignalSyscalls.sigaltstack(p.mainThread, SyscallArgs(values: (set == nil ? 0 : Self.scratch, query ? Self.scratch + 64 : 0, 0, 0, 0, 0)))
    }

    func reported(_ p: LinuxProcess) -> AlternateSignalStack {
        AlternateSignalStack(guestBytes: p.memory.read(Self.scratch + 64, count: 24) ?? [])
    }

    @Test func sigaltstackChecksItsArgumentsAndReportsTheStack() throws {
        let (p, path) = try process("syscall")
        defer { unlink(path) }
        let t = p.mainThread
        // None set: SS_DISABLE, base and size zero.
        #expect(sigaltstack(p, set: nil) == 0)
        #expect(reported(p) == AlternateSignalStack(base: 0, size: 0, flags: AlternateSignalStack.SS_DISABLE))
        // Unreadable ss, unwritable old_ss.
        #expect(SignalSyscalls.sigaltstack(t, SyscallArgs(values: (0x7000_0000, 0, 0, 0, 0, 0))) == -LinuxErrno.EFAULT)
        #expect(SignalSyscalls.sigaltstack(t, SyscallArgs(values: (0, 0x7000_0000, 0, 0, 0, 0))) == -LinuxErrno.EFAULT)
        // Bad flags, too small: refused, nothing changes.
        #expect(sigaltstack(p, set: .init(base: Self.altBase, size: Self.altSize, flags: 4)) == -LinuxErrno.EINVAL)
        #expect(sigaltstack(p, set: .init(base: Self.altBase, size: 2047, flags: 0)) == -LinuxErrno.ENOMEM)
        #expect(t.alternateStack == AlternateSignalStack())
        // MINSIGSTKSZ exactly is enough; old_ss reports the previous state.
        #expect(sigaltstack(p, set: .init(base: Self.altBase, size: 2048, flags: 0)) == 0)
        #expect(reported(p).flags == AlternateSignalStack.SS_DISABLE)
        #expect(sigaltstack(p, set: .init(base: Self.altBase, size: Self.altSize, flags: 0)) == 0)
        #expect(reported(p) == AlternateSignalStack(base: Self.altBase, size: 2048, flags: 0))
        // Running on it (RSP in (base, base + size]): SS_ONSTACK, and changes are EPERM.
        let mainSP = p.cpu[gpr: 4]
        p.cpu[gpr: 4] = Self.altBase + Self.altSize
        #expect(sigaltstack(p, set: nil) == 0 && reported(p).flags == AlternateSignalStack.SS_ONSTACK)
        #expect(sigaltstack(p, set: .disabled) == -LinuxErrno.EPERM)
        p.cpu[gpr: 4] = Self.altBase // the lowest byte is not "on" it (the stack grows down)
        #expect(sigaltstack(p, set: nil) == 0 && reported(p).flags == 0)
        // SS_AUTODISARM: reported, and never "on" it, so it can be changed from on it.
        p.cpu[gpr: 4] = Self.altBase + 0x100
        #expect(sigaltstack(p, set: .init(base: Self.altBase, size: Self.altSize, flags: AlternateSignalStack.SS_AUTODISARM)) == -LinuxErrno.EPERM)
        p.cpu[gpr: 4] = mainSP
        #expect(sigaltstack(p, set: .init(base: Self.altBase, size: Self.altSize, flags: AlternateSignalStack.SS_AUTODISARM)) == 0)
        p.cpu[gpr: 4] = Self.altBase + 0x100
        #expect(sigaltstack(p, set: nil) == 0 && reported(p).flags == AlternateSignalStack.SS_AUTODISARM)
        // SS_DISABLE (any size) forgets base and size.
        #expect(sigaltstack(p, set: .init(base: 0x1234, size: 1, flags: AlternateSignalStack.SS_DISABLE)) == 0)
        #expect(t.alternateStack == .disabled)
        #expect(sigaltstack(p, set: nil) == 0 && reported(p) == .disabled)
    }

    @Test func placementUsesTheTopOfTheAlternateStackOnlyWhenAsked() {
        let stack = AlternateSignalStack(base: Self.altBase, size: Self.altSize, flags: 0)
        let onstack = SignalDelivery.SA_ONSTACK | SignalDelivery.SA_RESTORER
        let sp: UInt64 = 0x7FFF_0000_1008
        // Without SA_ONSTACK, or with no stack set: below the red zone of the normal stack.
        let normal = SignalDelivery.placement(sp: sp, flags: SignalDelivery.SA_RESTORER, alternateStack: stack)
        #expect(normal.map { $0.fpstate + 512 <= sp - 128 && $0.frame % 16 == 8 } == true)
        #expect(SignalDelivery.placement(sp: sp, flags: onstack, alternateStack: AlternateSignalStack())?.frame == normal?.frame)
        // Entering: from the top (no red zone there), fpstate 64-byte and the frame 16-byte aligned.
        let top = Self.altBase + Self.altSize
        let entered = SignalDelivery.placement(sp: sp, flags: onstack, alternateStack: stack)
        #expect(entered?.fpstate == top - 512)
        #expect(entered.map { $0.frame % 16 == 8 && $0.frame + 440 <= $0.fpstate + 8 && stack.contains($0.frame) } == true)
        // An unaligned top is aligned down the same way.
        let odd = AlternateSignalStack(base: Self.altBase, size: Self.altSize - 0x13, flags: 0)
        #expect(SignalDelivery.placement(sp: sp, flags: onstack, alternateStack: odd).map { $0.fpstate % 64 == 0 && $0.frame % 16 == 8 } == true)
        // Nested (already on it): below the interrupted RSP's red zone, still on the stack.
        let inner = Self.altBase + 0x2000
        let nested = SignalDelivery.placement(sp: inner, flags: onstack, alternateStack: stack)
        #expect(nested.map { $0.fpstate + 512 <= inner - 128 && stack.contains($0.frame) } == true)
        // A frame that would not fit: nil (the thread dies of SIGSEGV), entering or nested.
        #expect(SignalDelivery.placement(sp: Self.altBase + 0x300, flags: onstack, alternateStack: stack) == nil)
        #expect(SignalDelivery.placement(sp: Self.altBase + 0x300, flags: SignalDelivery.SA_RESTORER, alternateStack: stack) == nil)
        let tiny = AlternateSignalStack(base: Self.altBase, size: 2048, flags: 0)
        #expect(SignalDelivery.placement(sp: sp, flags: onstack, alternateStack: tiny) != nil)
        let tooSmall = AlternateSignalStack(base: Self.altBase, size: 900, flags: 0)
        #expect(SignalDelivery.placement(sp: sp, flags: onstack, alternateStack: tooSmall) == nil)
    }

    @Test func deliveryRecordsUcStackAndAutodisarmIsUndoneBySigreturn() throws {
        let (p, path) = try process("deliver")
        defer { unlink(path) }
        let t = p.mainThread
        let flags = SignalDelivery.SA_RESTORER | SignalDelivery.SA_ONSTACK
        p.signalActions.withLock { $0[10] = GuestSignalAction(handler: 0x400100, flags: flags, restorer: 0x400200, mask: 0) }
        let stack = AlternateSignalStack(base: Self.altBase, size: Self.altSize, flags: AlternateSignalStack.SS_AUTODISARM)
        t.alternateStack = stack
        p.cpu.rip = 0x400078
        let rsp = p.cpu[gpr: 4]
        #expect(SignalDelivery.deliver(t, .init(signal: 10, code: 0, address: 0)))
        let frame = p.cpu[gpr: 4]
        #expect(stack.contains(frame) && frame % 16 == 8 && p.cpu.rip == 0x400100)
        #expect(word(p, frame + 24) == Self.altBase && word(p, frame + 32) == 0x8000_0000 && word(p, frame + 40) == Self.altSize)
        #expect(t.alternateStack == .disabled, "SS_AUTODISARM: disarmed while the handler runs")
        // The handler returns: registers and the alternate stack come back.
        p.cpu[gpr: 4] = frame + 8
        #expect(SignalDelivery.sigreturn(t))
        #expect(p.cpu[gpr: 4] == rsp && p.cpu.rip == 0x400078)
        #expect(t.alternateStack == stack)
        // Without SS_AUTODISARM the stack stays; a nested delivery stays on it, below the first.
        t.alternateStack = AlternateSignalStack(base: Self.altBase, size: Self.altSize, flags: 0)
        #expect(SignalDelivery.deliver(t, .init(signal: 10, code: 0, address: 0)))
        let first = p.cpu[gpr: 4]
        #expect(word(p, first + 32) == 0 && t.alternateStack.isRunningOn(first))
        #expect(SignalDelivery.deliver(t, .init(signal: 10, code: 0, address: 0)))
        let second = p.cpu[gpr: 4]
        #expect(second < first - 128 && t.alternateStack.contains(second))
        // A third and more: the 16 KiB stack fills up and delivery fails rather than leaving it.
        var deliveries = 2
        while SignalDelivery.deliver(t, .init(signal: 10, code: 0, address: 0)) { deliveries += 1; if deliveries > 100 { break } }
        #expect(deliveries < 100 && t.alternateStack.contains(p.cpu[gpr: 4]))
    }
}
