import EmuTCG
import Testing
@testable import EmuLinuxUser

@Suite struct LoaderTests {
    /// A minimal static ELF64 executable: one PT_LOAD of `code` at 0x400000, entry at its start.
    func elf(code: [UInt8], type: UInt16 = 2, machine: UInt16 = 62) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 64 + 56)
        b[0...3] = [0x7F, 0x45, 0x4C, 0x46]; b[4] = 2; b[5] = 1; b[6] = 1
        func put(_ v: UInt64, _ at: Int, _ n: Int) { for i in 0..<n { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) } }
        put(UInt64(type), 16, 2); put(UInt64(machine), 18, 2); put(1, 20, 4)
        put(0x400000 + 120, 24, 8); put(64, 32, 8); put(64, 52, 2); put(56, 54, 2); put(1, 56, 2)
        put(1, 64, 4); put(5, 68, 4); put(0, 72, 8); put(0x400000, 80, 8); put(0x400000, 88, 8)
        put(UInt64(120 + code.count), 96, 8); put(UInt64(120 + code.count), 104, 8); put(0x1000, 112, 8)
        return b + code
    }

    @Test func loadsASegmentWithItsProtectionAndEntry() throws {
        let image = try ELFImage(bytes: elf(code: [0x0F, 0x05]))
        let memory = try GuestAddressSpace(size: 1 << 30)
        let loaded = try ELFLoader.load(image, into: memory)
        #expect(loaded.entry == 0x400078 && loaded.programHeaders == 0x400040 && loaded.bias == 0)
        #expect(memory.permissions(at: 0x400000) == [.read, .execute])
        #expect(memory.read(0x400078, count: 2) == [0x0F, 0x05])
    }

    @Test func positionIndependentImagesAreRelocatedToTheBase() throws {
        var bytes = elf(code: [0x90])
        bytes[16] = 3
        // vaddr 0 for a PIE
        for i in 80..<96 { bytes[i] = 0 }
        for i in 24..<32 { bytes[i] = 0 }
        bytes[24] = 120
        let memory = try GuestAddressSpace(size: 1 << 36)
        let loaded = try ELFLoader.load(try ELFImage(bytes: bytes), into: memory)
        #expect(loaded.bias == ELFLoader.pieBase && loaded.entry == ELFLoader.pieBase + 120)
    }

    @Test func malformedHeadersAreRefusedNotTrusted() throws {
        #expect(throws: LoaderError.self) { try ELFImage(bytes: [0x7F, 0x45, 0x4C]) }
        #expect(throws: LoaderError.self) { try ELFImage(bytes: elf(code: [], machine: 3)) }
        var truncated = elf(code: [1, 2, 3])
        truncated[96] = 0xFF; truncated[97] = 0xFF // file size beyond the file
        #expect(throws: LoaderError.self) { try ELFImage(bytes: truncated) }
        var many = elf(code: [])
        many[56] = 0xFF; many[57] = 0xFF // 65535 program headers
        #expect(throws: LoaderError.self) { try ELFImage(bytes: many) }
        var rng = SeededGenerator(seed: 21)
        for _ in 0..<400 {
            var b = elf(code: [0x90, 0x90])
            for _ in 0..<4 { b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            if let image = try? ELFImage(bytes: b) {
                let memory = try GuestAddressSpace(size: 1 << 32)
                _ = try? ELFLoader.load(image, into: memory)
            }
        }
    }

    @Test func initialStackFollowsTheKernelLayout() throws {
        let memory = try GuestAddressSpace(size: 1 << 30)
        try memory.map(0x1000_0000, length: 0x10000, [.read, .write])
        let program = LoadedProgram(entry: 0x401000, programHeaders: 0x400040, programHeaderCount: 9, bias: 0, end: 0x500000)
        let sp = try InitialStack.build(memory: memory, top: 0x1001_0000, limit: 0x10000, arguments: ["prog", "a b"],
                                        environment: ["X=1"], executableName: "/bin/prog", program: program,
                                        ids: (1, 2, 3, 4), random: Array(0..<16))
        #expect(sp % 16 == 0)
        func word(_ a: UInt64) -> UInt64 { (memory.read(a, count: 8) ?? []).enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) } }
        #expect(word(sp) == 2)
        #expect(memory.cString(at: word(sp + 8)) == Array("prog".utf8) && memory.cString(at: word(sp + 16)) == Array("a b".utf8))
        #expect(word(sp + 24) == 0 && memory.cString(at: word(sp + 32)) == Array("X=1".utf8) && word(sp + 40) == 0)
        var auxv: [UInt64: UInt64] = [:]
        var a = sp + 48
        while word(a) != 0 { auxv[word(a)] = word(a + 8); a += 16 }
        #expect(auxv[InitialStack.AT_PHDR] == 0x400040 && auxv[InitialStack.AT_PHNUM] == 9 && auxv[InitialStack.AT_PAGESZ] == 4096)
        #expect(auxv[InitialStack.AT_ENTRY] == 0x401000 && auxv[InitialStack.AT_EUID] == 2)
        #expect(memory.read(auxv[InitialStack.AT_RANDOM] ?? 0, count: 16) == Array(0..<16))
        #expect(memory.cString(at: auxv[InitialStack.AT_EXECFN] ?? 0) == Array("/bin/prog".utf8))
    }
}

/// Deterministic xorshift generator for reproducible random tests.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}
