#if canImport(Glibc)
import Glibc
#endif
import EmuTCG
import Testing
@testable import EmuLinuxUser

/// Dynamically linked programs: PT_INTERP parsing, where the interpreter goes, the auxv it
/// reads, and hostile interpreter paths and headers (each a clear `LoaderError`).
@Suite struct DynamicLoaderTests {
    /// An ELF64 image: one PT_LOAD of the whole file at `vaddr` (flags R+X), optionally a
    /// PT_INTERP naming `interpreter` (the raw bytes, so tests can omit or misplace the NUL).
    func image(type: UInt16 = 3, vaddr: UInt64 = 0, interpreter: [UInt8]? = nil, entryOffset: UInt64 = 0,
               alignment: UInt64 = 0x1000, extraInterpreterHeader: Bool = false) -> [UInt8] {
        let headerCount = 1 + (interpreter == nil ? 0 : 1) + (extraInterpreterHeader ? 1 : 0)
        let headersEnd = 64 + 56 * headerCount
        var b = [UInt8](repeating: 0, count: headersEnd)
        func put(_ v: UInt64, _ at: Int, _ n: Int) { for i in 0..<n { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) } }
        b[0...3] = [0x7F, 0x45, 0x4C, 0x46]; b[4] = 2; b[5] = 1; b[6] = 1
        put(UInt64(type), 16, 2); put(62, 18, 2); put(1, 20, 4)
        put(64, 32, 8); put(64, 52, 2); put(56, 54, 2); put(UInt64(headerCount), 56, 2)
        let interpOffset = UInt64(headersEnd)
        let code: [UInt8] = [0x0F, 0x05, 0x90, 0x90]
        b += interpreter ?? []
        let codeOffset = UInt64(b.count)
        b += code
        put(vaddr + codeOffset + entryOffset, 24, 8)
        var h = 64
        for _ in 0..<(headerCount - 1) {
            put(3, h, 4); put(4, h + 4, 4)
            put(interpOffset, h + 8, 8); put(vaddr + interpOffset, h + 16, 8)
            put(UInt64(interpreter?.count ?? 0), h + 32, 8); put(UInt64(interpreter?.count ?? 0), h + 40, 8); put(1, h + 48, 8)
            h += 56
        }
        put(1, h, 4); put(5, h + 4, 4); put(0, h + 8, 8); put(vaddr, h + 16, 8)
        put(UInt64(b.count), h + 32, 8); put(UInt64(b.count), h + 40, 8); put(alignment, h + 48, 8)
        return b
    }

    func temporary(_ name: String, _ bytes: [UInt8]) -> String {
        let path = "/tmp/emu-user-dyn-\(name)-\(getpid()).elf"
        #expect(FileManagerLite.write(path, bytes))
        return path
    }

    @Test func interpreterPathIsParsedAndCheckedAsOneString() throws {
        let ok = try ELFImage(bytes: image(interpreter: Array("/lib/ld.so".utf8) + [0]))
        #expect(ok.interpreterPath == "/lib/ld.so")
        #expect(try ELFImage(bytes: image()).interpreterPath == nil)
        // As Linux reads it: up to the first NUL, the last byte being NUL.
        #expect(try ELFImage(bytes: image(interpreter: Array("/lib".utf8) + [0, 0x78, 0])).interpreterPath == "/lib")
        let hostile: [(String, [UInt8])] = [
            ("no NUL", Array("/lib/ld.so".utf8)),
            ("empty before the first NUL", [0, 0x61, 0]),
            ("only a NUL", [0]),
            ("longer than PATH_MAX", [UInt8](repeating: 0x61, count: 5000) + [0]),
        ]
        for (why, path) in hostile {
            #expect(throws: LoaderError.self, "\(why)") { try ELFImage(bytes: image(interpreter: path)) }
        }
        #expect(throws: LoaderError.self, "two PT_INTERP") {
            try ELFImage(bytes: image(interpreter: Array("/a".utf8) + [0], extraInterpreterHeader: true))
        }
        #expect(throws: LoaderError.self, "alignment not a power of two") { try ELFImage(bytes: image(alignment: 0x1800)) }
        #expect(throws: LoaderError.self, "segment wrapping the address space") {
            try ELFImage(bytes: image(type: 2, vaddr: UInt64.max - 0x800))
        }
    }

    @Test func aPositionIndependentInterpreterGoesToTheTopFreeRangeBelowTheCeiling() throws {
        let memory = try GuestAddressSpace(size: 1 << 36)
        let interp = try ELFImage(bytes: image())
        let ceiling: UInt64 = 0xE_0000_0000
        try memory.map(ceiling - 0x1000, length: 0x1000, [.read]) // something already at the top
        let base = try #require(try ELFLoader.interpreterBase(for: interp, in: memory, below: ceiling))
        #expect(base == ceiling - 0x2000)
        let loaded = try ELFLoader.load(interp, into: memory, base: base)
        #expect(loaded.bias == base && memory.permissions(at: base) == [.read, .execute])
        #expect(loaded.entry == base + UInt64(interp.bytes.count - 4))
        // An ET_EXEC interpreter stays where it is linked; overlapping what is there is refused.
        let fixed = try ELFImage(bytes: image(type: 2, vaddr: 0x400000))
        #expect(try ELFLoader.interpreterBase(for: fixed, in: memory, below: ceiling) == nil)
        _ = try ELFLoader.load(fixed, into: memory)
        #expect(throws: LoaderError.self) { try ELFLoader.load(fixed, into: memory) }
    }

    @Test func hostileInterpretersGiveBadInterpreterErrors() throws {
        let program = { (interp: String) in self.image(type: 2, vaddr: 0x400000, interpreter: Array(interp.utf8) + [0]) }
        func expectBadInterpreter(_ name: String, interpreter: [UInt8]?, _ text: String) {
            let interpPath = interpreter.map { temporary(name + "-interp", $0) } ?? "/nonexistent/ld-\(getpid()).so"
            let path = temporary(name, program(interpPath))
            defer { unlink(path); if interpreter != nil { unlink(interpPath) } }
            do {
                _ = try LinuxProcess(path: path, arguments: [path], environment: [])
                Issue.record("\(name): loaded")
            } catch let error as LoaderError {
                guard case .badInterpreter(let why) = error else { Issue.record("\(name): \(error)"); return }
                #expect(why.contains(text), "\(name): \(why)")
            } catch {
                Issue.record("\(name): \(error)")
            }
        }
        expectBadInterpreter("missing", interpreter: nil, "errno 2")
        expectBadInterpreter("nested", interpreter: image(interpreter: Array("/lib/ld.so".utf8) + [0]), "itself needs")
        expectBadInterpreter("overlapping", interpreter: image(type: 2, vaddr: 0x400000), "overlaps")
        expectBadInterpreter("not ELF", interpreter: Array("#!/bin/sh\n".utf8) + [UInt8](repeating: 0, count: 64), "ELF")
        // Random corruption of the interpreter's headers: an error or a load, never a crash.
        var rng = SeededGenerator(seed: 77)
        let good = image()
        for i in 0..<60 {
            var b = good
            for _ in 0..<3 { b[Int.random(in: 0..<120, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            let interpPath = temporary("fuzz-interp", b)
            let path = temporary("fuzz", program(interpPath))
            if let p = try? LinuxProcess(path: path, arguments: [path], environment: []) {
                #expect(p.cpu.rip != 0, "case \(i)")
            }
            unlink(path); unlink(interpPath)
        }
    }

    /// Reads the auxv of a prepared process (from its initial RSP).
    func auxv(_ p: LinuxProcess) -> [UInt64: UInt64] {
        func word(_ a: UInt64) -> UInt64 { (p.memory.read(a, count: 8) ?? []).enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) } }
        var a = p.cpu[gpr: 4]
        let argc = word(a)
        a += 8 * (argc + 2)
        while word(a) != 0 { a += 8 }
        a += 8
        var result: [UInt64: UInt64] = [:]
        while word(a) != 0 && result.count < 64 { result[word(a)] = word(a + 8); a += 16 }
        return result
    }

    @Test func aHostDynamicProgramStartsInItsInterpreterWithTheAuxvPointingAtBoth() throws {
        let path = "/bin/true"
        let program = try ELFImage(bytes: LinuxProcess.readFile(path))
        let interpPath = try #require(program.interpreterPath)
        let interp = try ELFImage(bytes: LinuxProcess.readFile(interpPath))
        let p = try LinuxProcess(path: path, arguments: ["true"], environment: [])
        let aux = auxv(p)
        let base = try #require(aux[InitialStack.AT_BASE])
        #expect(base != 0 && base % 4096 == 0 && base < p.mmapCeiling)
        #expect(p.cpu.rip == base + interp.entry, "starts at the interpreter's entry")
        let bias: UInt64 = program.isPositionIndependent ? ELFLoader.pieBase : 0
        #expect(aux[InitialStack.AT_ENTRY] == program.entry + bias)
        #expect(aux[InitialStack.AT_PHNUM] == UInt64(program.programHeaders.count) && aux[InitialStack.AT_PHENT] == 56)
        let phdr = try #require(program.programHeaders.first { $0.type == ProgramHeader.phdr })
        #expect(aux[InitialStack.AT_PHDR] == phdr.virtualAddress + bias)
        #expect(aux[InitialStack.AT_SECURE] == 0 && aux[InitialStack.AT_MINSIGSTKSZ] == SignalDelivery.minimumStackSize)
        #expect(p.memory.cString(at: aux[InitialStack.AT_PLATFORM] ?? 0) == Array("x86_64".utf8))
        #expect(aux[InitialStack.AT_HWCAP] == UInt64(CPUID.featuresEDX))
        #expect(p.run() == .exited(0), "ld.so, libc and true run to exit(0)")
    }

    @Test func cpuidPassesGlibcsBaselineGate() {
        // glibc reads leaf 1 only for known vendors, and its x86-64 baseline needs these bits.
        let (_, b, c, d) = CPUID.query(leaf: 0, subleaf: 0)
        #expect([b, d, c].flatMap { w in (0..<4).map { UInt8(truncatingIfNeeded: w >> (8 * $0)) } } == Array("GenuineIntel".utf8))
        let edx = CPUID.query(leaf: 1, subleaf: 0).3
        for bit in [0, 8, 15, 23, 24, 25, 26] { #expect(edx & (1 << bit) != 0, "leaf 1 EDX bit \(bit)") }
        let ecx = CPUID.query(leaf: 1, subleaf: 0).2
        #expect(ecx & (1 << 27) == 0 && ecx & (1 << 26) == 0 && ecx & (1 << 28) == 0, "no OSXSAVE, XSAVE or AVX: FXSAVE lazy binding")
    }
}
