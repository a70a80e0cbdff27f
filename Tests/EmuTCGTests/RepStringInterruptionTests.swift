import Testing
@testable import EmuTCG

/// Long REP string instructions stop at an iteration boundary when a stop is requested (RIP at
/// the instruction, RCX/RSI/RDI describing the rest) and resume from there; a page fault midway
/// reports the exact state of the faulting iteration.
@Suite struct RepStringInterruptionTests {
    /// 8 MiB of memory at 0x100000 and a word at `flag` that the guest itself sets (mov byte
    /// [rbx], 1) just before the REP instruction, in the same block: the run loop's check at the
    /// block start has passed, so only the REP instruction's own check can stop it.
    static let buffer: UInt64 = 0x10_0000
    static let flag: UInt64 = 0x90_0000

    func machine() throws -> TestMachine {
        let m = try TestMachine()
        try m.memory.map(Self.buffer, length: 8 << 20, [.read, .write])
        try m.memory.map(Self.flag, length: 0x1000, [.read, .write])
        let word = try #require(m.memory.hostPointer(Self.flag, length: 8, access: .read))
        m.executor.interruptWord = UnsafePointer(word.assumingMemoryBound(to: UInt64.self))
        return m
    }

    func clearFlag(_ m: TestMachine) throws { try m.memory.store(Self.flag, 0, size: 8, pc: 0) }

    @Test func repStosStopsAtAChunkBoundaryAndResumes() throws {
        let m = try machine()
        // mov byte [rbx], 1 ; rep stosb
        m.load([0xC6, 0x03, 0x01, 0xF3, 0xAA])
        let count: UInt64 = 3 << 20 | 5
        m.cpu[gpr: 3] = Self.flag; m.cpu[gpr: 7] = Self.buffer; m.cpu[gpr: 1] = count; m.cpu[gpr: 0] = 0xAB
        #expect(m.executor.run() == .stopRequested)
        #expect(m.cpu.rip == TestMachine.code + 3, "RIP at the REP instruction")
        let done = count - m.cpu[gpr: 1]
        #expect(done == Helpers.stringChunkBytes, "one chunk, then the stop")
        #expect(m.cpu[gpr: 7] == Self.buffer + done)
        #expect(m.memory.read(Self.buffer + done - 1, count: 2) == [0xAB, 0x00])
        try clearFlag(m)
        #expect(m.executor.run() == .syscall(at: TestMachine.code + 5))
        #expect(m.cpu[gpr: 1] == 0 && m.cpu[gpr: 7] == Self.buffer + count)
        #expect(m.memory.read(Self.buffer + count - 1, count: 2) == [0xAB, 0x00])
    }

    @Test func repMovsqStopsAndResumesWithTheSameResult() throws {
        let m = try machine()
        let quadwords: UInt64 = 150_000 // 1.2 MB: one 1 MiB chunk, the stop, then the rest
        _ = m.memory.poke(Self.buffer, (0..<4096).map { UInt8(truncatingIfNeeded: $0 * 7) })
        // mov byte [rbx], 1 ; rep movsq
        m.load([0xC6, 0x03, 0x01, 0xF3, 0x48, 0xA5])
        let (src, dst) = (Self.buffer, Self.buffer + 0x28_0000)
        m.cpu[gpr: 3] = Self.flag; m.cpu[gpr: 6] = src; m.cpu[gpr: 7] = dst; m.cpu[gpr: 1] = quadwords
        #expect(m.executor.run() == .stopRequested)
        #expect(m.cpu.rip == TestMachine.code + 3)
        #expect(m.cpu[gpr: 1] == quadwords - Helpers.stringChunkBytes / 8)
        #expect(m.cpu[gpr: 6] - src == Helpers.stringChunkBytes && m.cpu[gpr: 7] - dst == Helpers.stringChunkBytes)
        try clearFlag(m)
        #expect(m.executor.run() == .syscall(at: TestMachine.code + 6))
        #expect(m.cpu[gpr: 1] == 0 && m.cpu[gpr: 6] == src + quadwords * 8 && m.cpu[gpr: 7] == dst + quadwords * 8)
        #expect(m.memory.read(dst, count: 4096) == m.memory.read(src, count: 4096))
        #expect(m.memory.read(dst + quadwords * 8 - 8, count: 8) == m.memory.read(src + quadwords * 8 - 8, count: 8))
    }

    @Test func repCmpsStopsAfterEveryIterationWhileRequested() throws {
        let m = try machine()
        // Equal buffers: repe cmpsb runs to the end unless stopped.
        // mov byte [rbx], 1 ; repe cmpsb
        m.load([0xC6, 0x03, 0x01, 0xF3, 0xA6])
        m.cpu[gpr: 3] = Self.flag; m.cpu[gpr: 6] = Self.buffer; m.cpu[gpr: 7] = Self.buffer + 0x1000; m.cpu[gpr: 1] = 100
        #expect(m.executor.run() == .stopRequested)
        #expect(m.cpu.rip == TestMachine.code + 3 && m.cpu[gpr: 1] == 99 && m.cpu[gpr: 6] == Self.buffer + 1)
        // Run again with the flag still set, the run loop's own check stops it before the block.
        #expect(m.executor.run() == .stopRequested)
        #expect(m.cpu.rip == TestMachine.code + 3 && m.cpu[gpr: 1] == 99 && m.cpu[gpr: 7] == Self.buffer + 0x1001)
        try clearFlag(m)
        #expect(m.executor.run() == .syscall(at: TestMachine.code + 5))
        #expect(m.cpu[gpr: 1] == 0 && m.cpu.rflags & RFlags.zf != 0)
    }

    @Test func aRequestStopFromAnotherThreadInterruptsALongRep() async throws {
        let m = try TestMachine()
        try m.memory.map(Self.buffer, length: 8 << 20, [.read, .write])
        // repe cmpsb over 4 MiB of equal bytes, 256 times: far longer than the stop's delay, and
        // nearly all of it inside the REP instruction (the old helper finished it first).
        m.load([0xB2, 0x00, 0x48, 0x89, 0xDE, 0x48, 0x8D, 0xBB, 0x00, 0x00, 0x40, 0x00, 0x48, 0x89, 0xC1,
                0xF3, 0xA6, 0xFE, 0xCA, 0x75, 0xED])
        // mov dl, 0 ; L: mov rsi, rbx ; lea rdi, [rbx + 4 MiB] ; mov rcx, rax ; repe cmpsb ; dec dl ; jnz L
        m.cpu[gpr: 3] = Self.buffer; m.cpu[gpr: 0] = 4 << 20
        nonisolated(unsafe) let executor = m.executor
        let stopper = Task.detached {
            try await Task.sleep(for: .milliseconds(20))
            executor.requestStop()
        }
        let reason = m.executor.run()
        try await stopper.value
        #expect(reason == .stopRequested)
        #expect(m.cpu.rip == TestMachine.code + 15, "stopped inside the REP CMPSB, at an iteration boundary")
        #expect(m.cpu[gpr: 1] > 0 && m.cpu[gpr: 6] - Self.buffer + m.cpu[gpr: 1] == 4 << 20)
    }

    @Test func aPageFaultMidwayReportsTheExactIteration() throws {
        let m = try TestMachine()
        try m.memory.map(Self.buffer, length: 0x2000, [.read, .write])
        // rep stosd from 16 bytes before the end of the mapping, 10 dwords: the fifth faults.
        m.load([0xF3, 0xAB])
        m.cpu[gpr: 7] = Self.buffer + 0x2000 - 16; m.cpu[gpr: 1] = 10; m.cpu[gpr: 0] = 0x1122_3344
        #expect(m.executor.run() == .exception(.pageFault(pc: TestMachine.code, address: Self.buffer + 0x2000, write: true)))
        #expect(m.cpu.rip == TestMachine.code && m.cpu[gpr: 1] == 6 && m.cpu[gpr: 7] == Self.buffer + 0x2000)
        #expect(try m.memory.load(Self.buffer + 0x2000 - 4, size: 4, pc: 0) == 0x1122_3344)
        // rep movsb whose source runs into unmapped memory after 3 bytes.
        m.load([0xF3, 0xA4])
        m.cpu[gpr: 6] = Self.buffer + 0x2000 - 3; m.cpu[gpr: 7] = Self.buffer; m.cpu[gpr: 1] = 8
        #expect(m.executor.run() == .exception(.pageFault(pc: TestMachine.code, address: Self.buffer + 0x2000, write: false)))
        #expect(m.cpu[gpr: 1] == 5 && m.cpu[gpr: 6] == Self.buffer + 0x2000 && m.cpu[gpr: 7] == Self.buffer + 3)
    }
}
