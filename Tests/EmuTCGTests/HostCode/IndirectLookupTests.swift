import Foundation
import Testing
@testable import EmuTCG

/// The inline lookup of indirect jumps, calls and returns in host code: results against the
/// closure back end, hits really taken, entries dropped with their blocks (self-modifying code,
/// a code-buffer flush), and a guest looping through indirect jumps alone still stopping.
@Suite struct IndirectLookupTests {
    static let targets = 32
    /// Where the call targets start (a page of their own, away from the loop).
    static let callTargets = TestMachine.code + 0x2000
    /// Where the jump targets start.
    static let jumpTargets = TestMachine.code + 0x3000

    static func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: UInt32(bitPattern: Int32(v)) >> (8 * UInt32($0))) } }
    static func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }

    /// A loop of `iterations` that calls one of 32 functions through a table (`call [rsi+rdx*8]`,
    /// each returning with RET) and jumps to one of 32 other blocks through a register
    /// (`jmp r8`), which jump back. Returns (code to load at `TestMachine.code`, a set-up that
    /// places the targets and the two tables at `TestMachine.data`).
    static func program(iterations: UInt32) -> ([UInt8], (TestMachine) -> Void) {
        var code: [UInt8] = [
            0x31, 0xC0,                                   // xor eax, eax
            0xB9,                                         // mov ecx, iterations
        ]
        code += le32(Int(iterations))
        let loop = code.count
        code += [
            0x89, 0xCA,                                   // mov edx, ecx
            0x83, 0xE2, 0x1F,                             // and edx, 31
            0xFF, 0x14, 0xD6,                             // call [rsi + rdx*8]
            0x4C, 0x8B, 0x84, 0xD6, 0x00, 0x01, 0x00, 0x00, // mov r8, [rsi + rdx*8 + 256]
            0x41, 0xFF, 0xE0,                             // jmp r8
        ]
        let back = code.count
        code += [0xFF, 0xC9, 0x75]                        // dec ecx ; jnz loop
        code.append(UInt8(truncatingIfNeeded: loop - (code.count + 1)))
        let backAddress = TestMachine.code + UInt64(back)
        var callCode: [UInt8] = []
        var jumpCode: [UInt8] = []
        var table: [UInt8] = []
        var jumpTable: [UInt8] = []
        for k in 0..<targets {
            // add rax, k*k+1 ; rol rax, 3 ; ret (each 16 bytes apart)
            let f = [0x48, 0x05] + le32(k * k + 1) + [0x48, 0xC1, 0xC0, 0x03, 0xC3]
            table += le64(callTargets + UInt64(callCode.count))
            callCode += f + [UInt8](repeating: 0xCC, count: 16 - f.count)
            // add rbx, k+7 ; xor rbx, rax ; jmp back
            let at = jumpTargets + UInt64(jumpCode.count)
            var j: [UInt8] = [0x48, 0x81, 0xC3] + le32(k + 7) + [0x48, 0x31, 0xC3, 0xE9]
            j += le32(Int(Int64(bitPattern: backAddress &- (at + UInt64(j.count) + 4))))
            jumpTable += le64(at)
            jumpCode += j + [UInt8](repeating: 0xCC, count: 32 - j.count)
        }
        let setUp: (TestMachine) -> Void = { m in
            m.memory.poke(callTargets, callCode)
            m.memory.poke(jumpTargets, jumpCode)
            m.memory.poke(TestMachine.data, table + jumpTable)
        }
        return (code, setUp)
    }

    static func registers() -> [UInt64] {
        var regs = [UInt64](repeating: 0, count: 16)
        regs[6] = TestMachine.data
        return regs
    }

    /// Every lookup entry names a block that is in the executor's cache, at that block's code:
    /// no entry points at dropped or flushed code.
    static func expectEntriesAreLive(_ executor: Executor) throws {
        let cache = try #require(executor.hostCache)
        let table = cache.context.lookup
        var live = 0
        for i in 0..<IndirectLookupTable.entryCount {
            let e = table.entries + i * IndirectLookupTable.entryWords
            guard e[1] != IndirectLookupTable.emptyMode else { continue }
            let block = executor.blocks[e[0]]
            let expected = block?.hostEntry.map { UInt(bitPattern: cache.buffer.address(of: $0)) }
            #expect(expected == UInt(e[2]), "entry for \(String(e[0], radix: 16)) is stale")
            live += 1
        }
        #expect(live <= executor.blocks.count)
    }

    @Test func indirectCallsJumpsAndReturnsToManyTargetsMatchTheClosureBackEnd() throws {
        let (code, setUp) = Self.program(iterations: 3000)
        try HostBackendTests.expectSame(code, Self.registers(), setUp: setUp, minimumHostBlocks: 60)
        let (h, stop) = try HostBackendTests.run(code, Self.registers(), flags: 0x202, backend: .host, setUp: setUp)
        #expect(stop == .syscall(at: TestMachine.code + UInt64(code.count)))
        // 3000 iterations × (a call's target, its return, a jump's target): almost all through
        // the table, the misses only the first visit of each target (and the checks' exits).
        #expect(h.executor.indirectLookupHits >= 8000)
        #expect(h.executor.indirectLookupMisses <= 200)
        try Self.expectEntriesAreLive(h.executor)
    }

    /// A function reached through the table is rewritten by the guest: its block (and entry)
    /// is dropped, and the next call runs the new code.
    @Test func aTargetRewrittenByTheGuestIsNotReachedThroughAStaleEntry() throws {
        let function = Self.callTargets
        // loop: call [rsi] ; cmp ecx, 50 ; jne skip ; mov dword [function + 2], 1000 ; skip: dec ecx ; jnz loop
        var code: [UInt8] = [0x31, 0xC0, 0xB9, 100, 0, 0, 0]  // xor eax, eax ; mov ecx, 100
        let loop = code.count
        code += [0xFF, 0x16, 0x83, 0xF9, 0x32, 0x75, 0x0A]      // call [rsi] ; cmp ecx, 50 ; jne +10
        let store = TestMachine.code + UInt64(code.count)
        code += [0xC7, 0x05] + Self.le32(Int(Int64(bitPattern: (function + 2) &- (store + 10)))) + Self.le32(1000)
        code += [0xFF, 0xC9, 0x75]
        code.append(UInt8(truncatingIfNeeded: loop - (code.count + 1)))
        var regs = [UInt64](repeating: 0, count: 16)
        regs[6] = TestMachine.data
        let setUp: (TestMachine) -> Void = { m in
            _ = try? m.memory.protect(TestMachine.code, length: 0x4000, [.read, .write, .execute])
            m.memory.poke(function, [0x48, 0x05] + Self.le32(1) + [0xC3]) // add rax, 1 ; ret
            m.memory.poke(TestMachine.data, Self.le64(function))
        }
        try HostBackendTests.expectSame(code, regs, setUp: setUp)
        let (h, _) = try HostBackendTests.run(code, regs, flags: 0x202, backend: .host, setUp: setUp)
        // 51 calls (ECX 100 down to 50) before the store, 49 after it.
        #expect(h.cpu[gpr: 0] == 51 * 1 + 49 * 1000)
        #expect(h.executor.indirectLookupHits >= 90)
        try Self.expectEntriesAreLive(h.executor)

        // Dropping the page by hand drops the entry too.
        let cache = try #require(h.executor.hostCache)
        #expect(cache.context.lookup.lookup(pc: function, mode: HostRunContext.userMode64) != nil)
        h.executor.invalidate(page: function >> 12)
        #expect(cache.context.lookup.lookup(pc: function, mode: HostRunContext.userMode64) == nil)
        try Self.expectEntriesAreLive(h.executor)
    }

    /// The code buffer fills up while the table holds entries: the flush empties the table,
    /// and the program goes on through freshly filled entries.
    @Test func aFlushWhileEntriesExistEmptiesTheTable() throws {
        let (code, setUp) = Self.program(iterations: 500)
        let (c, _) = try HostBackendTests.run(code, Self.registers(), flags: 0x202, backend: .closure, setUp: setUp)
        let (h, _) = try HostBackendTests.run(code, Self.registers(), flags: 0x202, backend: .host, setUp: setUp)
        let cache = try #require(h.executor.hostCache)
        #expect(cache.context.lookup.lookup(pc: Self.callTargets, mode: HostRunContext.userMode64) != nil)
        let hitsBefore = h.executor.indirectLookupHits
        // Fill the buffer, then run the loop again from a block not yet translated.
        let stub = TestMachine.code + 0x1000
        for m in [c, h] {
            m.memory.poke(stub, [0xB9, 0x00, 0x02, 0x00, 0x00, 0xE9] // mov ecx, 512 ; jmp loop
                          + Self.le32(Int(Int64(bitPattern: (TestMachine.code + 7) &- (stub + 10)))))
            m.cpu.rip = stub
        }
        while cache.buffer.free > 4096 { _ = cache.buffer.append([UInt8](repeating: 0xCC, count: 4000)) }
        _ = cache.buffer.append([UInt8](repeating: 0xCC, count: max(0, cache.buffer.free - 32)))
        let flushes = h.executor.codeBufferFlushes
        #expect(c.executor.run() == h.executor.run())
        #expect(h.executor.codeBufferFlushes == flushes + 1)
        #expect(h.executor.indirectLookupHits > hitsBefore + 1000)
        for r in 0..<16 { #expect(h.cpu[gpr: r] == c.cpu[gpr: r], "r\(r)") }
        try Self.expectEntriesAreLive(h.executor)
    }

    /// `jmp rax` to itself: a loop with no direct jump at all still sees the interrupt word, a
    /// stop request and a block budget.
    @Test func aLoopOfIndirectJumpsStillStops() throws {
        let m = try TestMachine(backend: .host)
        // lea rax, [rip] ; jmp rax
        m.load([0x48, 0x8D, 0x05, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xE0])
        let word = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        defer { word.deallocate() }
        word.pointee = 0
        m.executor.interruptWord = UnsafePointer(word)
        let address = UInt(bitPattern: word) // a plain number crosses to the other thread
        Thread { usleep(50_000); UnsafeMutablePointer<UInt64>(bitPattern: address)?.pointee = 1 }.start()
        #expect(m.executor.run() == .stopRequested)
        #expect(m.cpu.rip == TestMachine.code + 7)
        #expect(m.executor.indirectLookupHits > 1000, "the spin went through the table")
        word.pointee = 0
        m.executor.interruptWord = nil
        let mailbox = m.executor.mailbox
        Thread { usleep(50_000); mailbox.requestStop() }.start()
        #expect(m.executor.run() == .stopRequested)
        #expect(m.cpu.rip == TestMachine.code + 7)
        let hits = m.executor.indirectLookupHits
        #expect(m.executor.run(blockBudget: 100) == .stopRequested)
        #expect(m.executor.indirectLookupHits == hits, "a counted budget returns after every block")
    }
}
