import Testing
@testable import EmuTCG

@Suite struct ExecutionTests {
    @Test func divisionByZeroAndOverflowRaiseDivideErrorAtTheExactPC() throws {
        let m = try TestMachine()
        // mov eax, 5 ; xor ecx, ecx ; div ecx
        let code: [UInt8] = [0xB8, 5, 0, 0, 0, 0x31, 0xC9, 0xF7, 0xF1]
        #expect(m.run(code) == .exception(.divideError(pc: TestMachine.code + 7)))
        #expect(m.cpu.rip == TestMachine.code + 7 && m.cpu[gpr: 0] == 5)
        // idiv: INT64_MIN / -1 overflows
        m.load([0x48, 0xF7, 0xF9]) // idiv rcx
        m.cpu[gpr: 0] = 1 << 63; m.cpu[gpr: 2] = UInt64.max; m.cpu[gpr: 1] = UInt64.max
        #expect(m.executor.run() == .exception(.divideError(pc: TestMachine.code)))
    }

    @Test func divisionResults() throws {
        let m = try TestMachine()
        var rng = SeededGenerator(seed: 3)
        for _ in 0..<500 {
            let hi = UInt64.random(in: 0...0xFFFF, using: &rng), lo = UInt64.random(in: 0...UInt64.max, using: &rng)
            let d = UInt64.random(in: 0x1_0000...UInt64.max, using: &rng)
            m.load([0x48, 0xF7, 0xF1]) // div rcx
            m.cpu[gpr: 0] = lo; m.cpu[gpr: 2] = hi; m.cpu[gpr: 1] = d
            #expect(m.executor.run() == .syscall(at: TestMachine.code + 3))
            let (q, r) = d.dividingFullWidth((hi, lo))
            #expect(m.cpu[gpr: 0] == q && m.cpu[gpr: 2] == r)
            // idiv r32 with signed operands
            let a = Int64(Int32.random(in: Int32.min...Int32.max, using: &rng))
            var b = Int32.random(in: Int32.min...Int32.max, using: &rng)
            if b == 0 || b == -1 { b = 7 }
            m.load([0xF7, 0xF9]) // idiv ecx
            m.cpu[gpr: 0] = UInt64(UInt32(truncatingIfNeeded: a)); m.cpu[gpr: 2] = a < 0 ? 0xFFFF_FFFF : 0
            m.cpu[gpr: 1] = UInt64(UInt32(bitPattern: b))
            #expect(m.executor.run() == .syscall(at: TestMachine.code + 2))
            #expect(Int32(truncatingIfNeeded: m.cpu[gpr: 0]) == Int32(a / Int64(b)))
            #expect(Int32(truncatingIfNeeded: m.cpu[gpr: 2]) == Int32(a % Int64(b)))
        }
    }

    @Test func pageFaultsReportTheFaultingInstructionNotTheBlock() throws {
        let m = try TestMachine()
        // inc rax ; inc rax ; mov rbx, [0x500000] (unmapped) ; inc rax
        let code: [UInt8] = [0x48, 0xFF, 0xC0, 0x48, 0xFF, 0xC0, 0x48, 0x8B, 0x1C, 0x25, 0x00, 0x00, 0x50, 0x00, 0x48, 0xFF, 0xC0]
        #expect(m.run(code) == .exception(.pageFault(pc: TestMachine.code + 6, address: 0x50_0000, write: false)))
        #expect(m.cpu[gpr: 0] == 2 && m.cpu.rip == TestMachine.code + 6)
        // A store to a read-only page (the code page itself).
        m.load([0x48, 0x89, 0x04, 0x25, 0x00, 0x00, 0x01, 0x00]) // mov [0x10000], rax
        #expect(m.executor.run() == .exception(.pageFault(pc: TestMachine.code, address: 0x10000, write: true)))
    }

    @Test func undefinedInstructionsRaiseInvalidOpcode() throws {
        let m = try TestMachine()
        #expect(m.run([0x90, 0x0F, 0x0B]) == .exception(.invalidOpcode(pc: TestMachine.code + 1)))
        #expect(m.run([0x90, 0x90, 0x0F, 0x37]) == .exception(.invalidOpcode(pc: TestMachine.code + 2)))
    }

    @Test func callReturnPushPopAndLoops() throws {
        let m = try TestMachine()
        // mov ecx, 10 ; xor eax, eax ; L: call f ; dec ecx ; jnz L ; jmp end ; f: add rax, 3 ; ret ; end:
        let code: [UInt8] = [0xB9, 10, 0, 0, 0, 0x31, 0xC0,
                              0xE8, 0x06, 0, 0, 0,       // 0x07: call 0x0C + 6 = 0x12
                              0xFF, 0xC9, 0x75, 0xF7,    // 0x0C: dec ecx ; 0x0E: jnz 0x10 - 9 = 0x07
                              0xEB, 0x05,                // 0x10: jmp 0x12 + 5 = 0x17
                              0x48, 0x83, 0xC0, 0x03, 0xC3] // 0x12: add rax, 3 ; ret (0x16)
        #expect(m.run(code) == .syscall(at: TestMachine.code + 0x17))
        #expect(m.cpu[gpr: 0] == 30 && m.cpu[gpr: 1] == 0 && m.cpu[gpr: 4] == TestMachine.stackTop)
    }

    @Test func repStringInstructions() throws {
        let m = try TestMachine()
        // rep stosb: fill 100 bytes at data with 0xAB; then repne scasb for 0 over them
        m.load([0xF3, 0xAA])
        m.cpu[gpr: 0] = 0xAB; m.cpu[gpr: 1] = 100; m.cpu[gpr: 7] = TestMachine.data
        #expect(m.executor.run() == .syscall(at: TestMachine.code + 2))
        #expect(m.memory.read(TestMachine.data, count: 101) == [UInt8](repeating: 0xAB, count: 100) + [0])
        #expect(m.cpu[gpr: 1] == 0 && m.cpu[gpr: 7] == TestMachine.data + 100)
        m.load([0xF2, 0xAE]) // repne scasb
        m.cpu[gpr: 0] = 0; m.cpu[gpr: 1] = 1000; m.cpu[gpr: 7] = TestMachine.data
        #expect(m.executor.run() == .syscall(at: TestMachine.code + 2))
        #expect(m.cpu[gpr: 7] == TestMachine.data + 101 && m.cpu[gpr: 1] == 1000 - 101)
    }

    @Test func ssePackedCompareAndMask() throws {
        let m = try TestMachine()
        // pcmpeqb xmm0, xmm1 ; pmovmskb eax, xmm0
        m.load([0x66, 0x0F, 0x74, 0xC1, 0x66, 0x0F, 0xD7, 0xC0])
        m.cpu.setXMM(0, low: 0x0011_2233_4455_6677, high: 0x8899_AABB_CCDD_EEFF)
        m.cpu.setXMM(1, low: 0x0011_0033_0055_0077, high: 0x8800_AA00_CC00_EE00)
        #expect(m.executor.run() == .syscall(at: TestMachine.code + 8))
        // Equal bytes: 0x77(0),0x55(2),0x33(4),0x11(6),0x00(7) in low; 0xEE? no: high bytes 0xEE(13)...
        var expected: UInt64 = 0
        let a: [UInt8] = withUnsafeBytes(of: (UInt64(0x0011_2233_4455_6677), UInt64(0x8899_AABB_CCDD_EEFF))) { Array($0) }
        let b: [UInt8] = withUnsafeBytes(of: (UInt64(0x0011_0033_0055_0077), UInt64(0x8800_AA00_CC00_EE00))) { Array($0) }
        for i in 0..<16 where a[i] == b[i] { expected |= 1 << UInt64(i) }
        #expect(m.cpu[gpr: 0] == expected)
        // A misaligned m128 operand of a packed op is #GP (SIGSEGV for the guest).
        m.load([0x66, 0x0F, 0xEF, 0x04, 0x25, 0x01, 0x00, 0x02, 0x00]) // pxor xmm0, [0x20001]
        #expect(m.executor.run() == .exception(.generalProtection(pc: TestMachine.code)))
    }

    @Test func selfModifyingCodeIsRetranslated() throws {
        let m = try TestMachine()
        try m.memory.protect(TestMachine.code, length: 0x4000, [.read, .write, .execute])
        // mov eax, 1 ; syscall — run, then overwrite the immediate through a guest store and run again.
        #expect(m.run([0xB8, 1, 0, 0, 0]) == .syscall(at: TestMachine.code + 5))
        #expect(m.cpu[gpr: 0] == 1)
        // mov byte [0x10001], 7 ; jmp 0x10000 is not needed: store then rerun from the start.
        m.cpu.rip = TestMachine.code + 0x100
        m.memory.poke(TestMachine.code + 0x100, [0xC6, 0x04, 0x25, 0x01, 0x00, 0x01, 0x00, 0x07, 0x0F, 0x05])
        #expect(m.executor.run() == .syscall(at: TestMachine.code + 0x108))
        m.cpu.rip = TestMachine.code
        #expect(m.executor.run() == .syscall(at: TestMachine.code + 5))
        #expect(m.cpu[gpr: 0] == 7)
    }

    @Test func randomCodeNeverTrapsTheHost() throws {
        let m = try TestMachine()
        var rng = SeededGenerator(seed: 11)
        var outcomes: [String: Int] = [:]
        for _ in 0..<300 {
            let bytes = (0..<64).map { _ in UInt8.random(in: 0...255, using: &rng) }
            try m.memory.map(TestMachine.code, length: 0x4000, [.read, .execute])
            m.load(bytes)
            for r in 0..<16 where r != 4 { m.cpu[gpr: r] = TestMachine.data + 0x100 }
            let stop = m.executor.run(blockBudget: 1000)
            switch stop {
            case .syscall: outcomes["syscall", default: 0] += 1
            case .exception(let e): outcomes["\(e)".prefix(while: { $0 != "(" }).description, default: 0] += 1
            case .stopRequested: outcomes["budget", default: 0] += 1
            }
        }
        #expect(outcomes.values.reduce(0, +) == 300)
        #expect((outcomes["invalidOpcode"] ?? 0) > 0 && (outcomes["pageFault"] ?? 0) > 0)
    }

    @Test func lazyConditionFastPathsAgreeWithTheFullFlags() {
        let s = CPUState()
        var rng = SeededGenerator(seed: 5)
        for _ in 0..<2000 {
            let size = [1, 2, 4, 8].randomElement(using: &rng) ?? 8
            let op: ConditionCodeOp = [.sub, .logic, .add].randomElement(using: &rng) ?? .sub
            let a = UInt64.random(in: 0...UInt64.max, using: &rng) >> UInt64.random(in: 0...63, using: &rng)
            let b = Bool.random(using: &rng) ? a : UInt64.random(in: 0...UInt64.max, using: &rng)
            s.slots[StateSlot.ccOp] = op.encoded(size: size)
            s.slots[StateSlot.ccDst] = op == .sub ? a &- b : (op == .add ? a &+ b : a & b)
            s.slots[StateSlot.ccSrc] = b
            let flags = LazyFlags.compute(s.slots)
            for cc in UInt8(0)..<16 {
                #expect(LazyFlags.condition(cc, s.slots) == LazyFlags.holds(cc, flags: flags))
            }
        }
    }
}

@Suite struct FloatingPointTests {
    @Test func sse2ScalarArithmeticConversionsAndCompares() throws {
        let m = try TestMachine()
        // cvtsi2sd xmm0, rax ; cvtsi2sd xmm1, rbx ; divsd xmm0, xmm1 ; sqrtsd xmm2, xmm0 ;
        // cvttsd2si rcx, xmm2 ; ucomisd xmm0, xmm1
        m.load([0xF2, 0x48, 0x0F, 0x2A, 0xC0, 0xF2, 0x48, 0x0F, 0x2A, 0xCB, 0xF2, 0x0F, 0x5E, 0xC1,
                0xF2, 0x0F, 0x51, 0xD0, 0xF2, 0x48, 0x0F, 0x2C, 0xCA, 0x66, 0x0F, 0x2E, 0xC1])
        var rng = SeededGenerator(seed: 9)
        for _ in 0..<200 {
            let a = Int64.random(in: -1_000_000_000...1_000_000_000, using: &rng)
            let b = Int64.random(in: 1...1000, using: &rng)
            m.cpu.rip = TestMachine.code
            m.cpu[gpr: 0] = UInt64(bitPattern: a); m.cpu[gpr: 3] = UInt64(bitPattern: b)
            #expect(m.executor.run() == .syscall(at: TestMachine.code + 27))
            let q = Double(a) / Double(b)
            #expect(m.cpu.xmm(0).low == q.bitPattern)
            #expect(m.cpu.xmm(2).low == q.squareRoot().bitPattern)
            let root = q.squareRoot()
            let expected = root.isNaN ? UInt64(1) << 63 : UInt64(bitPattern: Int64(root.rounded(.towardZero)))
            #expect(m.cpu[gpr: 1] == expected)
            let flags = m.cpu.rflags & (RFlags.zf | RFlags.pf | RFlags.cf)
            #expect(flags == (q < Double(b) ? RFlags.cf : (q == Double(b) ? RFlags.zf : 0)))
        }
    }

    @Test func x87StackArithmeticStoresAndStatus() throws {
        let m = try TestMachine()
        // fild qword [0x20000] ; fild qword [0x20008] ; fdivp st1, st0 ; fld st0 ; fmulp ;
        // fstp tbyte [0x20010] ; fldz ; fxam ; fnstsw ax ; fstp st0
        let code: [UInt8] = [0xDF, 0x2C, 0x25, 0x00, 0x00, 0x02, 0x00,
                             0xDF, 0x2C, 0x25, 0x08, 0x00, 0x02, 0x00,
                             0xDE, 0xF9, 0xD9, 0xC0, 0xDE, 0xC9,
                             0xDB, 0x3C, 0x25, 0x10, 0x00, 0x02, 0x00,
                             0xD9, 0xEE, 0xD9, 0xE5, 0xDF, 0xE0, 0xDD, 0xD8]
        m.memory.poke(TestMachine.data, withUnsafeBytes(of: (Int64(-7), Int64(3))) { Array($0) })
        #expect(m.run(code) == .syscall(at: TestMachine.code + UInt64(code.count)))
        let stored = m.memory.read(TestMachine.data + 0x10, count: 10) ?? []
        var expected = (Float80(-7) / Float80(3)) * (Float80(-7) / Float80(3))
        let bytes = withUnsafeBytes(of: &expected) { Array($0.prefix(10)) }
        #expect(stored == bytes)
        // FXAM of +0: C3 set, C2 C0 clear; TOP back at 0 after the pops.
        let status = m.cpu[gpr: 0] & 0xFFFF
        #expect(status & 0x4500 == 0x4000)
        #expect(m.cpu.slots[StateSlot.fpuTop] == 0 && m.cpu.slots[StateSlot.fpuEmpty] == 0xFF)
    }
}

@Suite struct FlagLivenessTests {
    func decodeAll(_ bytes: [UInt8]) throws -> [Instruction] {
        var out: [Instruction] = []
        var pc: UInt64 = 0
        while pc < UInt64(bytes.count) {
            let i = try Decoder().decode(at: pc) { $0 < UInt64(bytes.count) ? bytes[Int($0)] : nil }
            out.append(i)
            pc = i.nextAddress
        }
        return out
    }

    @Test func flagsOverwrittenBeforeAnyReadAreDead() throws {
        // add rax, rbx ; inc rcx ; sub rax, 1 ; mov rdx, rax ; jz +0
        let insns = try decodeAll([0x48, 0x01, 0xD8, 0x48, 0xFF, 0xC1, 0x48, 0x83, 0xE8, 0x01, 0x48, 0x89, 0xC2, 0x74, 0x00])
        // The add's flags are read by inc (it keeps CF), inc's are overwritten by sub, sub's
        // reach the jz through the flag-neutral mov.
        #expect(FlagLiveness.liveAfter(insns, liveAtEnd: true) == [true, false, true, true, true])
    }

    @Test func deadFlagEliminationKeepsTheResults() throws {
        let m = try TestMachine()
        // add rax, rbx ; rol rax, 7 ; sub rax, rcx ; setz dl (flags of sub live)
        m.load([0x48, 0x01, 0xD8, 0x48, 0xC1, 0xC0, 0x07, 0x48, 0x29, 0xC8, 0x0F, 0x94, 0xC2])
        m.cpu[gpr: 0] = 5; m.cpu[gpr: 3] = 6
        let rotated = (UInt64(11) << 7) | (UInt64(11) >> 57)
        m.cpu[gpr: 1] = rotated
        #expect(m.executor.run() == .syscall(at: TestMachine.code + 13))
        #expect(m.cpu[gpr: 0] == 0 && m.cpu[gpr: 2] & 0xFF == 1)
    }
}
