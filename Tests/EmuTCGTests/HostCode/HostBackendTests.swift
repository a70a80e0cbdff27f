import Foundation
import Testing
@testable import EmuTCG

/// The host-code back end against the closure back end on the same guest code: the blocks must
/// really be compiled to host code (not fall back), and registers, flags, memory and the stop
/// reason must agree.
@Suite struct HostBackendTests {
    /// Runs `code` from `registers` on `backend`; returns the machine after it stopped.
    static func run(_ code: [UInt8], _ registers: [UInt64], flags: UInt64, backend: ExecutorBackend,
                    setUp: (TestMachine) -> Void = { _ in }) throws -> (TestMachine, StopReason) {
        let m = try TestMachine(backend: backend)
        m.load(code)
        for r in 0..<16 where r != 4 { m.cpu[gpr: r] = registers[r] }
        m.cpu.rflags = flags
        setUp(m)
        let stop = m.executor.run()
        return (m, stop)
    }

    static func expectSame(_ code: [UInt8], _ registers: [UInt64], flags: UInt64 = 0x202,
                           setUp: (TestMachine) -> Void = { _ in }, minimumHostBlocks: Int = 1) throws {
        let (c, cs) = try run(code, registers, flags: flags, backend: .closure, setUp: setUp)
        let (h, hs) = try run(code, registers, flags: flags, backend: .host, setUp: setUp)
        #expect(h.executor.backend == .host)
        #expect(h.executor.hostCompiledBlocks >= minimumHostBlocks, "the blocks fell back to closures")
        #expect(hs == cs)
        for r in 0..<16 { #expect(h.cpu[gpr: r] == c.cpu[gpr: r], "r\(r)") }
        #expect(h.cpu.rip == c.cpu.rip)
        #expect(h.cpu.rflags == c.cpu.rflags)
        #expect(h.memory.read(TestMachine.data, count: 4096) == c.memory.read(TestMachine.data, count: 4096))
        #expect(h.memory.read(TestMachine.stackTop - 256, count: 256) == c.memory.read(TestMachine.stackTop - 256, count: 256))
    }

    /// A loop summing and storing through memory with compares, conditional moves, SETcc,
    /// shifts, multiplies, sign extension and calls: every integer IR op the front end emits
    /// for it runs natively.
    @Test func aLoopOverMemoryMatchesTheClosureBackEnd() throws {
        let code: [UInt8] = [
            0x48, 0x31, 0xC0,                   // xor rax, rax
            0xB9, 0x40, 0x00, 0x00, 0x00,       // mov ecx, 64
            // loop:
            0x48, 0x89, 0xCA,                   // mov rdx, rcx
            0x48, 0x0F, 0xAF, 0xD1,             // imul rdx, rcx
            0x48, 0x89, 0x14, 0xCE,             // mov [rsi + rcx*8], rdx
            0x48, 0x03, 0x44, 0xCE, 0xF8,       // add rax, [rsi + rcx*8 - 8]
            0x48, 0xC1, 0xE2, 0x03,             // shl rdx, 3
            0x48, 0x39, 0xC2,                   // cmp rdx, rax
            0x48, 0x0F, 0x42, 0xC2,             // cmovb rax, rdx
            0x0F, 0x9F, 0xC3,                   // setg bl
            0x48, 0x0F, 0xBE, 0xDB,             // movsx rbx, bl
            0x48, 0x01, 0xDF,                   // add rdi, rbx
            0x66, 0x89, 0x3E,                   // mov [rsi], di
            0x0F, 0xB7, 0x3E,                   // movzx edi, word [rsi]
            0xFF, 0xC9,                         // dec ecx
            0x75, 0xD1,                         // jnz loop
            0xE8, 0x00, 0x00, 0x00, 0x00,       // call next
            0x5B,                               // pop rbx
            0x48, 0x99,                         // cqo
            0x48, 0xF7, 0xE8,                   // imul rax (one operand: rdx:rax)
        ]
        var regs = [UInt64](repeating: 0, count: 16)
        regs[6] = TestMachine.data + 16
        regs[7] = 0x1234
        try Self.expectSame(code, regs, minimumHostBlocks: 4)
        let (h, stop) = try Self.run(code, regs, flags: 0x202, backend: .host)
        #expect(stop == .syscall(at: TestMachine.code + UInt64(code.count)))
        #expect(h.executor.translatedBlocks == h.executor.hostCompiledBlocks)
    }

    /// Random register states through one block of ALU work ending in a conditional branch.
    @Test func randomStatesThroughFlagsAndBranches() throws {
        let code: [UInt8] = [
            0x48, 0x01, 0xD8,                   // add rax, rbx
            0x19, 0xD1,                         // sbb ecx, edx
            0x66, 0x29, 0xF7,                   // sub di, si
            0x40, 0x20, 0xF7,                   // and dil, sil
            0x48, 0xD3, 0xF8,                   // sar rax, cl
            0x48, 0xF7, 0xDA,                   // neg rdx
            0x4D, 0x0F, 0xAF, 0xC1,             // imul r8, r9
            0x49, 0xF7, 0xE2,                   // mul r10
            0x0F, 0x94, 0xC3,                   // sete bl
            0x4D, 0x39, 0xDC,                   // cmp r12, r11
            0x0F, 0x9C, 0xC1,                   // setl cl
            0x0F, 0x97, 0xC5,                   // seta ch
            0x45, 0x85, 0xED,                   // test r13d, r13d
            0x7E, 0x03,                         // jle +3
            0x49, 0xFF, 0xC6,                   // inc r14
            0x41, 0x0F, 0xCF,                   // bswap r15d
            0x4C, 0x31, 0xF8,                   // xor rax, r15
        ]
        var rng = SeededGenerator(seed: 15)
        for _ in 0..<40 {
            let regs = (0..<16).map { _ in UInt64.random(in: 0...UInt64.max, using: &rng) >> UInt64.random(in: 0...63, using: &rng) }
            let flags: UInt64 = 0x202 | (Bool.random(using: &rng) ? 1 : 0)
            try Self.expectSame(code, regs, flags: flags, minimumHostBlocks: 2)
        }
    }

    /// A store to a page holding translated code goes the slow way and drops the block: the
    /// second run sees the patched immediate.
    @Test func selfModifyingCodeOnTheHostBackEnd() throws {
        let m = try TestMachine(backend: .host)
        try m.memory.protect(TestMachine.code, length: 0x4000, [.read, .write, .execute])
        // mov eax, 1 ; mov byte [rip - 11], 7 (the immediate of the mov)
        let code: [UInt8] = [0xB8, 0x01, 0x00, 0x00, 0x00, 0xC6, 0x05, 0xF5, 0xFF, 0xFF, 0xFF, 0x07]
        #expect(m.run(code) == .syscall(at: TestMachine.code + UInt64(code.count)))
        #expect(m.cpu[gpr: 0] == 1)
        #expect(m.executor.hostCompiledBlocks == 1)
        m.cpu.rip = TestMachine.code
        #expect(m.executor.run() == .syscall(at: TestMachine.code + UInt64(code.count)))
        #expect(m.cpu[gpr: 0] == 7)
        #expect(m.executor.hostCompiledBlocks == 2)
    }

    @Test func aFullCodeBufferFlushesAndRunsOn() throws {
        let m = try TestMachine(backend: .host)
        // Many distinct blocks: jmp +0 chains 1000 one-instruction blocks.
        var code: [UInt8] = []
        for _ in 0..<1000 { code += [0x48, 0xFF, 0xC0, 0xEB, 0x00] } // inc rax ; jmp next
        m.load(code)
        // Fill the buffer until it must flush.
        let buffer = try #require(m.executor.codeBuffer)
        while buffer.free > 4096 { _ = buffer.append([UInt8](repeating: 0xCC, count: 4000)) }
        #expect(m.executor.run() == .syscall(at: TestMachine.code + UInt64(code.count)))
        #expect(m.cpu[gpr: 0] == 1000)
        #expect(m.executor.codeBufferFlushes >= 1)
    }

    /// Ops the host compiler does not emit natively (DIV, POPCNT, REP STOS, SSE) run as calls of
    /// their closure steps inside host-code blocks, faults included.
    @Test(arguments: [UInt8(7), 0])
    func fallbackStepsInsideHostBlocks(divisor: UInt8) throws {
        let code: [UInt8] = [
            0xB8, 0x64, 0x00, 0x00, 0x00,       // mov eax, 100
            0x48, 0x01, 0xC3,                   // add rbx, rax (flags live at the DIV)
            0x31, 0xD2,                         // xor edx, edx
            0xB9, divisor, 0x00, 0x00, 0x00,    // mov ecx, divisor
            0xF7, 0xF1,                         // div ecx
            0xF3, 0x4C, 0x0F, 0xB8, 0xC3,       // popcnt r8, rbx
            0xB9, 0x10, 0x00, 0x00, 0x00,       // mov ecx, 16
            0xF3, 0xAA,                         // rep stosb
            0xF2, 0x0F, 0x58, 0xC1,             // addsd xmm0, xmm1
            0x48, 0x01, 0xD8,                   // add rax, rbx
        ]
        var regs = [UInt64](repeating: 0, count: 16)
        regs[3] = 0xF0F0_1234
        regs[7] = TestMachine.data + 40
        let setUp: (TestMachine) -> Void = { m in
            m.cpu.setXMM(0, low: (1.5).bitPattern, high: 0)
            m.cpu.setXMM(1, low: (2.25).bitPattern, high: 0)
        }
        try Self.expectSame(code, regs, setUp: setUp)
        let (c, _) = try Self.run(code, regs, flags: 0x202, backend: .closure, setUp: setUp)
        let (h, stop) = try Self.run(code, regs, flags: 0x202, backend: .host, setUp: setUp)
        #expect(h.cpu.xmm(0) == c.cpu.xmm(0))
        #expect(h.executor.translatedBlocks == h.executor.hostCompiledBlocks)
        if divisor == 0 {
            #expect(stop == .exception(.divideError(pc: TestMachine.code + 15)))
        } else {
            #expect(h.cpu.xmm(0).low == (3.75).bitPattern)
        }
    }

    /// Direct jumps between host blocks are patched, and a guest spinning in a chained loop
    /// still sees the interrupt word (checked on backward branches) and a stop request.
    @Test func chainedLoopsAreLinkedAndStillStop() throws {
        let m = try TestMachine(backend: .host)
        // loop: inc rax ; cmp rax, rbx ; jne loop      then: jmp $ (spins for ever)
        let code: [UInt8] = [0x48, 0xFF, 0xC0, 0x48, 0x39, 0xD8, 0x75, 0xF8, 0xEB, 0xFE]
        m.load(code)
        m.cpu[gpr: 3] = 100_000
        let word = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        defer { word.deallocate() }
        word.pointee = 0
        m.executor.interruptWord = UnsafePointer(word)
        let address = UInt(bitPattern: word) // a plain number crosses to the other thread
        Thread { usleep(50_000); UnsafeMutablePointer<UInt64>(bitPattern: address)?.pointee = 1 }.start()
        #expect(m.executor.run() == .stopRequested)
        #expect(m.cpu[gpr: 0] == 100_000)
        #expect(m.cpu.rip == TestMachine.code + 8)
        #expect(m.executor.hostLinks >= 2, "the loop's and the spin's jumps are patched")
        word.pointee = 0
        m.executor.interruptWord = nil
        let mailbox = m.executor.mailbox
        Thread { usleep(50_000); mailbox.requestStop() }.start()
        #expect(m.executor.run() == .stopRequested)
        #expect(m.cpu.rip == TestMachine.code + 8)
    }

    @Test func aBlockBudgetCountsChainedBlocks() throws {
        let m = try TestMachine(backend: .host)
        m.load([0xEB, 0xFE]) // jmp $
        #expect(m.executor.run(blockBudget: 1000) == .stopRequested)
        #expect(m.executor.run(blockBudget: 10) == .stopRequested)
    }

    @Test func theEnvironmentChoosesTheBackEnd() {
        #expect(ExecutorBackend(rawValue: "host") == .host)
        #expect(ExecutorBackend(rawValue: "closure") == .closure)
        #expect(ExecutorBackend(rawValue: "jit") == nil)
    }
}
