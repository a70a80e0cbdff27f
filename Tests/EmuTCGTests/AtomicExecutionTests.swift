#if canImport(Glibc)
import Glibc
#endif
import EmuTCG
import Testing

/// LOCK-prefixed instructions as host atomics: under real contention from two host threads,
/// each with its own executor over one address space, no update is lost; locked forms give the
/// same results and flags as the plain forms; code written by one executor reaches another.
@Suite struct AtomicExecutionTests {
    /// Runs `body(i)` on `count` new host threads at once and waits for all of them.
    static func onHostThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        final class Start: @unchecked Sendable { // handed to exactly one new thread, read once
            let body: @Sendable (Int) -> Void
            let index: Int
            init(_ body: @escaping @Sendable (Int) -> Void, _ index: Int) { self.body = body; self.index = index }
        }
        var threads: [pthread_t] = []
        for i in 0..<count {
            var thread = pthread_t()
            let box = Unmanaged.passRetained(Start(body, i)).toOpaque()
            let rc = pthread_create(&thread, nil, { raw in
                guard let raw else { return nil }
                let start = Unmanaged<Start>.fromOpaque(raw).takeRetainedValue()
                start.body(start.index)
                return nil
            }, box)
            #expect(rc == 0)
            if rc == 0 { threads.append(thread) }
        }
        for t in threads { pthread_join(t, nil) }
    }

    static func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    static func rel8(from next: Int, to target: Int) -> UInt8 { UInt8(bitPattern: Int8(target - next)) }

    /// Per iteration: LOCK ADD, LOCK XADD, a CMPXCHG retry loop, an XCHG spin lock around a plain
    /// increment, LOCK INC of a dword.
    static func contentionLoop(iterations: Int) -> [UInt8] {
        var code: [UInt8] = [0xB9] + le32(iterations)                   // mov ecx, n
        let top = code.count
        code += [0xF0, 0x48, 0x83, 0x07, 0x01]                           // lock add qword [rdi], 1
        code += [0xB8, 1, 0, 0, 0, 0xF0, 0x48, 0x0F, 0xC1, 0x47, 0x08]  // mov eax, 1; lock xadd [rdi+8], rax
        let retry = code.count
        code += [0x48, 0x8B, 0x47, 0x10, 0x48, 0x8D, 0x50, 0x01]        // mov rax, [rdi+16]; lea rdx, [rax+1]
        code += [0xF0, 0x48, 0x0F, 0xB1, 0x57, 0x10]                     // lock cmpxchg [rdi+16], rdx
        code += [0x75, rel8(from: code.count + 2, to: retry)]            // jnz retry
        let spin = code.count
        code += [0xB8, 1, 0, 0, 0, 0x87, 0x47, 0x18, 0x85, 0xC0]        // mov eax, 1; xchg [rdi+24], eax; test eax, eax
        code += [0x75, rel8(from: code.count + 2, to: spin)]             // jnz spin
        code += [0x48, 0xFF, 0x47, 0x20]                                 // inc qword [rdi+32] (inside the lock)
        code += [0xC7, 0x47, 0x18, 0, 0, 0, 0]                           // mov dword [rdi+24], 0 (unlock)
        code += [0xF0, 0xFF, 0x47, 0x28]                                 // lock inc dword [rdi+40]
        code += [0xFF, 0xC9]                                             // dec ecx
        code += [0x0F, 0x85] + le32(top - (code.count + 6))              // jnz top
        return code + [0x0F, 0x05]                                       // syscall
    }

    @Test func lockedUpdatesFromTwoHostThreadsAreNeverLost() throws {
        let memory = try GuestAddressSpace(size: 1 << 24)
        let code: UInt64 = 0x10000, data: UInt64 = 0x20000
        let iterations = 20_000
        try memory.map(code, length: 0x1000, [.read, .execute])
        try memory.map(data, length: 0x1000, [.read, .write])
        memory.poke(code, Self.contentionLoop(iterations: iterations))
        Self.onHostThreads(2) { _ in
            let cpu = CPUState()
            let executor = Executor(cpu: cpu, memory: memory)
            cpu.rip = code
            cpu[gpr: 7] = data
            // Bounded, so that a broken spin lock fails the test instead of hanging it.
            let stop = executor.run(blockBudget: 4_000_000)
            #expect(stop == .syscall(at: code + UInt64(Self.contentionLoop(iterations: iterations).count - 2)))
        }
        let expected = UInt64(2 * iterations)
        for offset in [0, 8, 16, 32] as [UInt64] {
            #expect(try memory.load(data + offset, size: 8, pc: 0) == expected, "counter at +\(offset)")
        }
        #expect(try memory.load(data + 40, size: 4, pc: 0) == expected)
        #expect(try memory.load(data + 24, size: 4, pc: 0) == 0) // the spin lock ends free
    }

    /// Locked encodings checked against their plain forms (whose semantics the differential
    /// tests against the host CPU cover): registers, flags and memory must agree.
    @Test func lockedFormsComputeWhatThePlainFormsCompute() throws {
        let forms: [[UInt8]] = [
            [0x48, 0x01, 0x37], [0x48, 0x09, 0x37], [0x48, 0x11, 0x37], [0x48, 0x19, 0x37],  // add/or/adc/sbb [rdi], rsi
            [0x48, 0x21, 0x37], [0x48, 0x29, 0x37], [0x48, 0x31, 0x37], [0x01, 0x37],        // and/sub/xor; add dword
            [0x00, 0x0F], [0x66, 0x29, 0x37], [0x48, 0x83, 0x07, 0x85], [0x80, 0x2F, 0x7F],  // add byte cl; sub word; add imm; sub byte imm
            [0x48, 0xFF, 0x07], [0x48, 0xFF, 0x0F], [0x66, 0xFF, 0x07], [0xFE, 0x0F],         // inc/dec
            [0x48, 0xF7, 0x1F], [0xF7, 0x1F], [0x48, 0xF7, 0x17], [0xF6, 0x17],              // neg/not
            [0x48, 0x0F, 0xC1, 0x37], [0x0F, 0xC1, 0x37], [0x0F, 0xC0, 0x0F],                 // xadd
            [0x48, 0x0F, 0xB1, 0x37], [0x0F, 0xB1, 0x37], [0x0F, 0xB0, 0x0F], [0x66, 0x0F, 0xB1, 0x37], // cmpxchg
            [0x0F, 0xC7, 0x0F],                                                               // cmpxchg8b
            [0x48, 0x0F, 0xAB, 0x37], [0x48, 0x0F, 0xB3, 0x37], [0x0F, 0xBB, 0x37],           // bts/btr/btc reg
            [0x48, 0x0F, 0xBA, 0x2F, 0x21], [0x0F, 0xBA, 0x37, 0x05], [0x66, 0x0F, 0xBA, 0x3F, 0x0C], // bts/btr/btc imm
        ]
        var rng = SeededGenerator(seed: 7)
        for form in forms {
            for trial in 0..<24 {
                var registers = (0..<16).map { _ in UInt64.random(in: 0...UInt64.max, using: &rng) }
                let memoryWords = (0..<4).map { _ in UInt64.random(in: 0...UInt64.max, using: &rng) }
                registers[6] &= 0x7F // a bit offset that stays on the data page
                if trial % 2 == 0 { registers[0] = memoryWords[0]; registers[2] = memoryWords[0] >> 32 } // compare-exchange succeeds
                if trial % 4 == 0 { registers[0] = registers[0] & ~0xFFFF_FFFF | memoryWords[0] & 0xFFFF_FFFF }
                let flags = UInt64.random(in: 0...UInt64.max, using: &rng) & RFlags.arithmetic
                var results: [[UInt64]] = []
                for bytes in [form, [0xF0] + form] {
                    let m = try TestMachine()
                    for (i, w) in memoryWords.enumerated() { try m.memory.store(TestMachine.data + UInt64(8 * i), w, size: 8, pc: 0) }
                    for r in 0..<16 where r != 4 { m.cpu[gpr: r] = registers[r] }
                    m.cpu[gpr: 7] = TestMachine.data
                    m.cpu.rflags = flags
                    let stop = m.run(bytes)
                    var state = (0..<16).map { m.cpu[gpr: $0] } + [m.cpu.rflags & RFlags.arithmetic]
                    for i in 0..<4 { state.append(try m.memory.load(TestMachine.data + UInt64(8 * i), size: 8, pc: 0)) }
                    #expect(stop == .syscall(at: TestMachine.code + UInt64(bytes.count)), "\(bytes)")
                    results.append(state)
                }
                #expect(results[0] == results[1], "form \(form.map { String($0, radix: 16) }) trial \(trial)")
            }
        }
    }

    @Test func lockedAccessToAReadOnlyPageFaultsBeforeWriting() throws {
        let m = try TestMachine()
        try m.memory.protect(TestMachine.data, length: 0x1000, [.read])
        m.cpu[gpr: 7] = TestMachine.data
        let stop = m.run([0xF0, 0x48, 0x83, 0x07, 0x01]) // lock add qword [rdi], 1
        #expect(stop == .exception(.pageFault(pc: TestMachine.code, address: TestMachine.data, write: true)))
        #expect(try m.memory.load(TestMachine.data, size: 8, pc: 0) == 0)
    }

    @Test func cmpxchg16bExchangesSixteenBytesAtOnce() throws {
        let m = try TestMachine()
        try m.memory.store(TestMachine.data, 0x1111, size: 8, pc: 0)
        try m.memory.store(TestMachine.data + 8, 0x2222, size: 8, pc: 0)
        m.cpu[gpr: 7] = TestMachine.data
        m.cpu[gpr: 0] = 0x1111; m.cpu[gpr: 2] = 0x2222; m.cpu[gpr: 3] = 0x3333; m.cpu[gpr: 1] = 0x4444
        m.run([0xF0, 0x48, 0x0F, 0xC7, 0x0F]) // lock cmpxchg16b [rdi]
        #expect(m.cpu.rflags & RFlags.zf != 0)
        #expect(try m.memory.load(TestMachine.data, size: 8, pc: 0) == 0x3333)
        #expect(try m.memory.load(TestMachine.data + 8, size: 8, pc: 0) == 0x4444)
        m.run([0xF0, 0x48, 0x0F, 0xC7, 0x0F]) // now RDX:RAX differs: loaded, ZF clear
        #expect(m.cpu.rflags & RFlags.zf == 0 && m.cpu[gpr: 0] == 0x3333 && m.cpu[gpr: 2] == 0x4444)
    }

    /// Code one executor writes is seen by another executor that translated it before.
    @Test func codeWrittenByOneExecutorIsRetranslatedByAnother() throws {
        let memory = try GuestAddressSpace(size: 1 << 24)
        let code: UInt64 = 0x10000, writer: UInt64 = 0x11000
        try memory.map(code, length: 0x1000, [.read, .write, .execute])
        try memory.map(writer, length: 0x1000, [.read, .execute])
        memory.poke(code, [0xB8, 1, 0, 0, 0, 0x0F, 0x05])           // mov eax, 1; syscall
        memory.poke(writer, [0xC6, 0x03, 0x02, 0x0F, 0x05])         // mov byte [rbx], 2; syscall
        let cpuA = CPUState(), cpuB = CPUState()
        let a = Executor(cpu: cpuA, memory: memory), b = Executor(cpu: cpuB, memory: memory)
        cpuA.rip = code
        _ = a.run()
        #expect(cpuA[gpr: 0] == 1)
        cpuB.rip = writer
        cpuB[gpr: 3] = code + 1 // the immediate of A's MOV
        _ = b.run()
        cpuA.rip = code
        _ = a.run()
        #expect(cpuA[gpr: 0] == 2)
    }
}
