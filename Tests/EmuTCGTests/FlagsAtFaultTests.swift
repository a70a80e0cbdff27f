import Testing
@testable import EmuTCG

/// Dead-flag elimination must not show at a fault: when an instruction in the middle of a block
/// faults, RFLAGS (what a signal handler reads in uc_mcontext.eflags) is what the instructions
/// before it computed, even when a later instruction of the block would have overwritten them.
@Suite struct FlagsAtFaultTests {
    /// add rax, rbx (CF, ZF, PF, AF set: 0xFFFF_FFFF_FFFF_FFFF + 1 = 0) ; FAULTING ; sub rdx, rdx
    static func check(_ backend: ExecutorBackend, _ faulting: [UInt8], setUp: (TestMachine) -> Void, expect stop: (StopReason) -> Bool) throws {
        let m = try TestMachine(backend: backend)
        m.load([0x48, 0x01, 0xD8] + faulting + [0x48, 0x29, 0xD2])
        m.cpu[gpr: 0] = ~0; m.cpu[gpr: 3] = 1; m.cpu[gpr: 2] = 5
        m.cpu.rflags = RFlags.sf | RFlags.of // what the flags were before the block
        setUp(m)
        let reason = m.executor.run()
        #expect(stop(reason), "stopped with \(reason)")
        #expect(m.cpu.rip == TestMachine.code + 3, "the faulting instruction's PC")
        #expect(m.cpu[gpr: 0] == 0 && m.cpu[gpr: 2] == 5)
        #expect(m.cpu.rflags & RFlags.arithmetic == RFlags.cf | RFlags.zf | RFlags.pf | RFlags.af,
                "flags \(String(m.cpu.rflags & RFlags.arithmetic, radix: 16)) are not the add's")
    }

    @Test(arguments: ExecutorBackend.allCases) func aLoadThatFaults(backend: ExecutorBackend) throws {
        // mov rcx, [rdi] with RDI unmapped.
        try Self.check(backend, [0x48, 0x8B, 0x0F], setUp: { $0.cpu[gpr: 7] = 0x50_0000 }) {
            if case .exception(.pageFault) = $0 { return true } else { return false }
        }
    }

    @Test(arguments: ExecutorBackend.allCases) func aStoreThatFaults(backend: ExecutorBackend) throws {
        // mov [rdi], ecx with RDI in the read-only code page.
        try Self.check(backend, [0x89, 0x0F], setUp: { $0.cpu[gpr: 7] = TestMachine.code }) {
            if case .exception(.pageFault) = $0 { return true } else { return false }
        }
    }

    @Test(arguments: ExecutorBackend.allCases) func aPushOnAnUnmappedStack(backend: ExecutorBackend) throws {
        try Self.check(backend, [0x51], setUp: { $0.cpu[gpr: 4] = 0x50_0000 }) {
            if case .exception(.pageFault) = $0 { return true } else { return false }
        }
    }

    @Test(arguments: ExecutorBackend.allCases) func aDivisionByZero(backend: ExecutorBackend) throws {
        // div rsi with RSI = 0.
        try Self.check(backend, [0x48, 0xF7, 0xF6], setUp: { $0.cpu[gpr: 6] = 0 }) { $0 == .exception(.divideError(pc: TestMachine.code + 3)) }
    }

    @Test(arguments: ExecutorBackend.allCases) func aMisalignedSSEOperand(backend: ExecutorBackend) throws {
        // movaps xmm0, [rdi] with RDI misaligned.
        try Self.check(backend, [0x0F, 0x28, 0x07], setUp: { $0.cpu[gpr: 7] = TestMachine.data + 8 }) {
            $0 == .exception(.generalProtection(pc: TestMachine.code + 3))
        }
    }

    @Test(arguments: ExecutorBackend.allCases) func anUnmaskedSSEException(backend: ExecutorBackend) throws {
        // divsd xmm0, xmm1 by zero with ZE unmasked.
        try Self.check(backend, [0xF2, 0x0F, 0x5E, 0xC1], setUp: {
            $0.cpu.slots[StateSlot.mxcsr] = 0x1D80
            $0.cpu.setXMM(0, low: (1.0).bitPattern, high: 0)
        }) {
            if case .exception(.simdFloatingPoint) = $0 { return true } else { return false }
        }
    }

    /// Without a possible fault in between, the add's flags stay dead (the optimisation remains).
    @Test func registerOnlyBlocksStillDropDeadFlags() throws {
        let decoder = Decoder()
        let bytes: [UInt8] = [0x48, 0x01, 0xD8, 0x48, 0x89, 0xC1, 0x48, 0x29, 0xD2, 0x48, 0x8B, 0x0F, 0x48, 0x01, 0xC8]
        var insns: [Instruction] = []
        var at: UInt64 = 0
        while at < UInt64(bytes.count) {
            let i = try decoder.decode(at: at) { $0 < UInt64(bytes.count) ? bytes[Int($0)] : nil }
            insns.append(i); at = i.nextAddress
        }
        // add ; mov rcx, rax ; sub rdx, rdx ; mov rcx, [rdi] ; add rax, rcx: the first add's flags
        // are dead (sub overwrites them before anything can fault); sub's are live up to the load.
        #expect(FlagLiveness.liveAfter(insns, liveAtEnd: true) == [false, false, true, false, true])
    }
}
