import Foundation
import Testing
@testable import EmuTCG

/// Every encoding `X86Assembler` produces, compared byte for byte with GNU `as` (Intel syntax)
/// on a generated set of instructions: all operand sizes, registers that need REX or the empty
/// REX of the byte registers, and memory operands whose base is RSP/R12 (SIB) or RBP/R13
/// (forced displacement), with and without index, with 8- and 32-bit displacements.
@Suite struct AssemblerTests {
    typealias Emit = (inout X86Assembler) -> Void

    static let registers: [HostRegister] = [.rax, .rcx, .rbx, .rsp, .rbp, .rsi, .rdi, .r8, .r11, .r12, .r13, .r15]

    static func name(_ r: HostRegister, _ size: Int) -> String {
        let q = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"]
        let i = Int(r.rawValue)
        if i >= 8 {
            switch size {
            case 1: return "r\(i)b"
            case 2: return "r\(i)w"
            case 4: return "r\(i)d"
            default: return "r\(i)"
            }
        }
        switch size {
        case 1: return ["al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil"][i]
        case 2: return String(q[i].dropFirst())
        case 4: return "e" + q[i].dropFirst()
        default: return q[i]
        }
    }

    static func ptr(_ size: Int) -> String {
        ["", "byte", "word", "", "dword", "", "", "", "qword"][size] + " ptr "
    }

    static let memories: [HostMemory] = {
        var list: [HostMemory] = []
        for base in [HostRegister.rax, .rsp, .rbp, .r12, .r13, .r15] {
            for d: Int32 in [0, 8, -128, 127, 128, -0x1234_5678] {
                list.append(HostMemory(base, d))
            }
            list.append(HostMemory(base: base, index: .rcx, scale: 8, displacement: 16))
            list.append(HostMemory(base: base, index: .r9, scale: 1, displacement: 0))
            list.append(HostMemory(base: base, index: .rbp, scale: 2, displacement: -300))
        }
        list.append(HostMemory(base: nil, index: .rdx, scale: 4, displacement: 0x100))
        return list
    }()

    static func text(_ m: HostMemory) -> String {
        var parts: [String] = []
        if let b = m.base { parts.append(name(b, 8)) }
        if let i = m.index { parts.append("\(name(i, 8))*\(m.scale)") }
        var s = "[" + parts.joined(separator: "+")
        if m.displacement != 0 || parts.isEmpty { s += m.displacement < 0 ? "-\(-Int64(m.displacement))" : "+\(m.displacement)" }
        return s + "]"
    }

    /// The generated instruction set: (Intel-syntax text, the assembler call).
    static func cases() -> [(String, Emit)] {
        var c: [(String, Emit)] = []
        let sizes = [1, 2, 4, 8]
        let aluNames = ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"]
        for r in registers {
            for s in registers where s.rawValue % 3 == r.rawValue % 3 || s == .rax {
                for size in sizes {
                    c.append(("mov \(name(r, size)), \(name(s, size))", { $0.mov(r, s, size: size) }))
                    c.append(("test \(name(r, size)), \(name(s, size))", { $0.test(r, s, size: size) }))
                    for op in HostALU.allCases {
                        c.append(("\(aluNames[Int(op.rawValue)]) \(name(r, size)), \(name(s, size))", { $0.alu(op, r, s, size: size) }))
                    }
                }
                for size in [2, 4, 8] {
                    c.append(("imul \(name(r, size)), \(name(s, size))", { $0.imul(r, s, size: size) }))
                    c.append(("imul \(name(r, size)), \(name(s, size)), 5", { $0.imul(r, s, immediate: 5, size: size) }))
                    c.append(("imul \(name(r, size)), \(name(s, size)), 1000", { $0.imul(r, s, immediate: 1000, size: size) }))
                    for cc in [HostCondition.below, .equal, .greater, .overflow, .parity] {
                        let ccName = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"][Int(cc.rawValue)]
                        c.append(("cmov\(ccName) \(name(r, size)), \(name(s, size))", { $0.cmov(cc, r, s, size: size) }))
                    }
                }
                c.append(("movzx \(name(r, 4)), \(name(s, 1))", { $0.movzx(r, s, from: 1) }))
                c.append(("movzx \(name(r, 4)), \(name(s, 2))", { $0.movzx(r, s, from: 2) }))
                c.append(("movsx \(name(r, 8)), \(name(s, 1))", { $0.movsx(r, s, from: 1) }))
                c.append(("movsx \(name(r, 8)), \(name(s, 2))", { $0.movsx(r, s, from: 2) }))
                c.append(("movsxd \(name(r, 8)), \(name(s, 4))", { $0.movsx(r, s, from: 4) }))
            }
            for size in sizes {
                for v: Int32 in [1, -1, 127, -128, 128, 0x1234_5678] where size != 1 || (v >= -128 && v <= 127) {
                    let shown = size == 2 ? Int32(Int16(truncatingIfNeeded: v)) : v
                    guard size != 2 || shown == v else { continue }
                    for op in HostALU.allCases {
                        c.append(("\(aluNames[Int(op.rawValue)]) \(name(r, size)), \(v)", { $0.alu(op, r, immediate: v, size: size) }))
                    }
                    c.append(("test \(name(r, size)), \(v)", { $0.test(r, immediate: v, size: size) }))
                }
                c.append(("not \(name(r, size))", { $0.not(r, size: size) }))
                c.append(("neg \(name(r, size))", { $0.neg(r, size: size) }))
                c.append(("mul \(name(r, size))", { $0.mul(r, size: size) }))
                c.append(("imul \(name(r, size))", { $0.imulWide(r, size: size) }))
                for (op, n) in [(HostShift.shl, "shl"), (.shr, "shr"), (.sar, "sar"), (.rol, "rol"), (.ror, "ror")] {
                    c.append(("\(n) \(name(r, size)), 1", { $0.shift(op, r, immediate: 1, size: size) }))
                    c.append(("\(n) \(name(r, size)), 5", { $0.shift(op, r, immediate: 5, size: size) }))
                    c.append(("\(n) \(name(r, size)), cl", { $0.shiftByCL(op, r, size: size) }))
                }
            }
            for v: UInt64 in [0, 1, 0xFFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF, 0xFFFF_FFFF_8000_0000, 0x1_0000_0000, 0x1234_5678_9ABC_DEF0] {
                let text: String
                if v == 0 { text = "xor \(name(r, 4)), \(name(r, 4))" }
                else if v <= 0xFFFF_FFFF { text = "mov \(name(r, 4)), \(v)" }
                else if Int64(Int32(truncatingIfNeeded: v)) == Int64(bitPattern: v) { text = "mov \(name(r, 8)), \(Int64(bitPattern: v))" }
                else { text = "movabs \(name(r, 8)), \(v)" }
                c.append((text, { $0.movImmediate(r, v) }))
            }
            c.append(("movabs \(name(r, 8)), 5", { $0.movabs(r, 5) }))
            c.append(("bswap \(name(r, 4))", { $0.bswap(r, size: 4) }))
            c.append(("bswap \(name(r, 8))", { $0.bswap(r, size: 8) }))
            c.append(("push \(name(r, 8))", { $0.push(r) }))
            c.append(("pop \(name(r, 8))", { $0.pop(r) }))
            c.append(("call \(name(r, 8))", { $0.call(r) }))
            c.append(("jmp \(name(r, 8))", { $0.jmp(r) }))
            for cc in HostCondition.allCases {
                let ccName = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"][Int(cc.rawValue)]
                c.append(("set\(ccName) \(name(r, 1))", { $0.setcc(cc, r) }))
            }
        }
        for m in memories {
            for r in [HostRegister.rax, .rsi, .r10] {
                for size in sizes {
                    c.append(("mov \(name(r, size)), \(ptr(size))\(text(m))", { $0.mov(r, m, size: size) }))
                    c.append(("mov \(ptr(size))\(text(m)), \(name(r, size))", { $0.mov(m, r, size: size) }))
                    c.append(("add \(name(r, size)), \(ptr(size))\(text(m))", { $0.alu(.add, r, m, size: size) }))
                    c.append(("cmp \(name(r, size)), \(ptr(size))\(text(m))", { $0.alu(.cmp, r, m, size: size) }))
                }
                c.append(("movzx \(name(r, 4)), byte ptr \(text(m))", { $0.movzx(r, m, from: 1) }))
                c.append(("movzx \(name(r, 4)), word ptr \(text(m))", { $0.movzx(r, m, from: 2) }))
                c.append(("lea \(name(r, 8)), \(text(m))", { $0.lea(r, m) }))
            }
            for size in sizes {
                c.append(("mov \(ptr(size))\(text(m)), 100", { $0.mov(m, immediate: 100, size: size) }))
                c.append(("cmp \(ptr(size))\(text(m)), 3", { $0.alu(.cmp, m, immediate: 3, size: size) }))
                c.append(("test \(ptr(size))\(text(m)), 16", { $0.test(m, immediate: 16, size: size) }))
            }
            c.append(("or qword ptr \(text(m)), 1000", { $0.alu(.or, m, immediate: 1000, size: 8) }))
        }
        c.append(("ret", { $0.ret() }))
        return c
    }

    /// Runs a host tool; throws with its output when it fails.
    static func run(_ tool: String, _ arguments: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        let pipe = Pipe()
        p.standardError = pipe
        p.standardOutput = pipe
        try p.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        if p.terminationStatus != 0 {
            throw ToolFailure(message: "\(tool) failed: " + (String(data: output, encoding: .utf8) ?? ""))
        }
    }

    struct ToolFailure: Error, CustomStringConvertible { let message: String; var description: String { message } }

    @Test func everyEncodingMatchesGNUAs() throws {
        // Binutils is a test-time dependency (scripts/install-deps); fail loudly if missing.
        #expect(FileManager.default.isExecutableFile(atPath: "/usr/bin/as"), "GNU as is needed: apt-get install binutils")
        #expect(FileManager.default.isExecutableFile(atPath: "/usr/bin/objcopy"), "objcopy is needed: apt-get install binutils")
        let cases = Self.cases()
        var ours = X86Assembler()
        var ranges: [Range<Int>] = []
        for (_, emit) in cases {
            let start = ours.offset
            emit(&ours)
            ranges.append(start..<ours.offset)
        }
        let finished = ours.finish()
        let bytes = try #require(finished)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("emu-asm-\(getpid())-\(UInt32.random(in: 0 ... .max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = ".intel_syntax noprefix\n.text\n" + cases.map { $0.0 }.joined(separator: "\n") + "\n"
        try source.write(to: dir.appendingPathComponent("a.s"), atomically: true, encoding: .utf8)
        try Self.run("/usr/bin/as", ["--64", "-o", dir.appendingPathComponent("a.o").path, dir.appendingPathComponent("a.s").path])
        try Self.run("/usr/bin/objcopy", ["-O", "binary", "-j", ".text", dir.appendingPathComponent("a.o").path,
                                          dir.appendingPathComponent("a.bin").path])
        let reference = [UInt8](try Data(contentsOf: dir.appendingPathComponent("a.bin")))
        #expect(cases.count > 3000)
        if reference != bytes {
            // Name the first instruction whose bytes differ.
            var firstBad = "(lengths \(bytes.count) vs \(reference.count))"
            for (i, range) in ranges.enumerated() {
                let theirs = range.upperBound <= reference.count ? Array(reference[range]) : []
                if Array(bytes[range]) != theirs {
                    let hex = { (b: [UInt8]) in b.map { String($0, radix: 16) }.joined(separator: " ") }
                    firstBad = "\(cases[i].0): ours \(hex(Array(bytes[range]))), as \(hex(theirs))"
                    break
                }
            }
            Issue.record("encoding differs from GNU as at \(firstBad)")
        }
    }

    @Test func labelsResolveForwardAndBackwardAsGNUAsDoes() throws {
        var a = X86Assembler()
        let top = a.label(), bottom = a.label()
        a.bind(top)
        a.jcc(.notEqual, bottom)
        a.alu(.add, .rax, .rcx)
        a.jmp(top)
        a.jcc(.less, top)
        a.bind(bottom)
        a.ret()
        let finished = a.finish()
        let bytes = try #require(finished)
        // {disp32} forces the rel32 forms that patchable jumps use.
        let expected: [UInt8] = [0x0F, 0x85, 0x0E, 0, 0, 0, 0x48, 0x01, 0xC8, 0xE9, 0xF2, 0xFF, 0xFF, 0xFF,
                                 0x0F, 0x8C, 0xEC, 0xFF, 0xFF, 0xFF, 0xC3]
        #expect(bytes == expected)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("emu-asm-l-\(getpid())-\(UInt32.random(in: 0 ... .max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = ".intel_syntax noprefix\n.text\n1:\n{disp32} jne 2f\nadd rax, rcx\n{disp32} jmp 1b\n{disp32} jl 1b\n2:\nret\n"
        try source.write(to: dir.appendingPathComponent("l.s"), atomically: true, encoding: .utf8)
        try Self.run("/usr/bin/as", ["--64", "-o", dir.appendingPathComponent("l.o").path, dir.appendingPathComponent("l.s").path])
        try Self.run("/usr/bin/objcopy", ["-O", "binary", "-j", ".text", dir.appendingPathComponent("l.o").path,
                                          dir.appendingPathComponent("l.bin").path])
        #expect([UInt8](try Data(contentsOf: dir.appendingPathComponent("l.bin"))) == bytes)
    }

    @Test func anUnboundLabelFailsToFinish() {
        var a = X86Assembler()
        let nowhere = a.label()
        a.jmp(nowhere)
        #expect(a.finish() == nil)
    }
}
