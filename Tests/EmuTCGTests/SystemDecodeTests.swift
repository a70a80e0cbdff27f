import Foundation
import Testing
@testable import EmuTCG

/// The system instructions' decoding, checked against the host's GNU assembler and `objdump -d`:
/// each line is assembled, and the decoder must find objdump's instruction boundaries and print
/// (through `intelText`) what objdump prints in Intel syntax.
@Suite struct SystemDecodeTests {
    static let source = [
        "mov %rax,%cr3", "mov %cr0,%r9", "mov %rax,%cr8", "mov %cr4,%rdx", "mov %cr2,%rax", ".byte 0x0f,0x22,0x18",
        "mov %rax,%dr0", "mov %dr7,%rax", "mov %rbx,%dr6",
        "lgdt (%rax)", "lidt (%rbx)", "sgdt (%rax)", "sidt (%rcx)",
        "lldt %ax", "ltr %ax", "sldt %eax", "str (%rax)", "verr %ax", "verw (%rax)", "lar %ax,%rcx",
        "lsl (%rax),%ecx", "lar %ax,%cx", "lmsw %ax", "smsw %rax", "smsw (%rax)", "invlpg (%rax)", "swapgs", "rdtscp",
        "in $0x80,%al", "in %dx,%ax", "in %dx,%eax", "out %al,$0x71", "out %eax,%dx", "out %ax,%dx",
        "insb", "rep insw", "outsl", "rep outsb",
        "rdmsr", "wrmsr", "cli", "sti", "clts", "iret", "iretw", "iretq", "sysret", "sysretq", "int $0x80", ".byte 0xcd,0x03",
        "ljmp *(%rax)", "lcall *(%rbx)", "lcallw *(%rax)", "lret", "lretw", "lretq", "lret $8",
        "mov %ds,%eax", "mov %fs,%ax", "mov %ds,(%rax)", "mov %eax,%ds", "mov (%rax),%gs", "mov %ax,%ss",
        "push %fs", "pop %gs", "pushw %fs", "pop %fs", "push %gs", "wbinvd", "invd",
    ]

    @Test func decodesWhatObjdumpDisassembles() throws {
        let listing = try Self.assembleAndDisassemble(Self.source)
        #expect(listing.count == Self.source.count, "objdump listed \(listing.count) instructions for \(Self.source.count) lines")
        for (bytes, expected) in listing {
            let insn: Instruction
            do {
                insn = try Decoder().decode(at: 0) { $0 < UInt64(bytes.count) ? bytes[Int($0)] : nil }
            } catch {
                Issue.record("\(hex(bytes)) (\(expected)): \(error)")
                continue
            }
            #expect(insn.length == bytes.count, "\(hex(bytes)) (\(expected)): length \(insn.length)")
            #expect(intelText(insn) == expected, "\(hex(bytes))")
        }
    }

    @Test func encodingsWithoutAnInstruction() {
        let invalid: [[UInt8]] = [
            [0x0F, 0x20, 0xC8], // MOV r, CR1
            [0x0F, 0x22, 0xE8], // MOV CR5, r
            [0x44, 0x0F, 0x21, 0xC0], // MOV r, DR8
            [0x8E, 0xC8], // MOV CS, r
            [0x8C, 0xF0], // MOV r, segment register 6
            [0x0F, 0x00, 0xF0], // 0F 00 /6
            [0x0F, 0x01, 0xC8], // MONITOR: not implemented
            [0x0F, 0x01, 0xE8], // 0F 01 /5 register form
            [0xFF, 0xD8], // far CALL needs a memory operand
            [0xCE], // INTO: not in 64-bit mode
            [0xEA, 0, 0, 0, 0, 0, 0], // direct far JMP: not in 64-bit mode
            [0xF0, 0x0F, 0x22, 0xD8], // LOCK MOV CR3
        ]
        for bytes in invalid {
            #expect(throws: DecodeError.invalidOpcode(address: 0), "\(hex(bytes))") {
                try Decoder().decode(at: 0) { $0 < UInt64(bytes.count) ? bytes[Int($0)] : nil }
            }
        }
    }

    @Test func operandSizesObjdumpDoesNotShow() throws {
        func decode(_ bytes: [UInt8]) throws -> Instruction {
            try Decoder().decode(at: 0) { $0 < UInt64(bytes.count) ? bytes[Int($0)] : nil }
        }
        // REX.W far JMP takes an m16:64; the pseudo-descriptor of LGDT is 10 bytes.
        let far = try decode([0x48, 0xFF, 0x28])
        #expect(far.mnemonic == .system(.farJump) && far.operandSize == 8 && far.operands == [.memory(MemoryOperand(base: 0))])
        #expect(try decode([0x0F, 0x01, 0x10]).operandSize == 10)
        // REX.W does not widen port accesses; 66 narrows them.
        #expect(try decode([0x48, 0xED]).operandSize == 4)
        #expect(try decode([0x66, 0xED]).operandSize == 2)
        // MOV to CR8 through REX.R; REX.B picks r8-r15.
        #expect(try decode([0x45, 0x0F, 0x22, 0xC1]).mnemonic == .system(.moveToControl(8)))
        #expect(try decode([0x45, 0x0F, 0x22, 0xC1]).operands == [.register(9, size: 8)])
    }

    @Test func userModeStillRaisesInvalidOpcodeAfterTheInstructionsBeforeIt() {
        // add rax, rbx; each system instruction; then bytes that must not be translated.
        for tail: [UInt8] in [[0x0F, 0x22, 0xD8], [0xFA], [0xFB], [0xEC], [0x0F, 0x01, 0xF8], [0x0F, 0x30], [0x48, 0xCF],
                              [0xCD, 0x80], [0x8E, 0xD8], [0x0F, 0xA0], [0x0F, 0x09], [0xFF, 0x28], [0x48, 0xCB]] {
            let bytes: [UInt8] = [0x48, 0x01, 0xD8] + tail + [0x90]
            let block = Translator().translate(at: 0x1000) { a in
                a >= 0x1000 && a - 0x1000 < UInt64(bytes.count) ? bytes[Int(a - 0x1000)] : nil
            }
            #expect(block.exit == .exception(.invalidOpcode(pc: 0x1003)), "\(hex(tail))")
            #expect(block.instructionCount == 2 && block.end == 0x1003 + UInt64(tail.count), "\(hex(tail))")
        }
    }

    // MARK: the host's assembler and disassembler

    /// Assembles `lines` with `as --64` and lists each instruction's bytes and objdump's Intel
    /// text (spaces collapsed). Fails loudly when binutils is missing.
    static func assembleAndDisassemble(_ lines: [String]) throws -> [([UInt8], String)] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("emu-system-decode-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let sourcePath = directory.appendingPathComponent("s.s").path, objectPath = directory.appendingPathComponent("s.o").path
        try (lines.joined(separator: "\n") + "\n").write(toFile: sourcePath, atomically: true, encoding: .utf8)
        _ = try run("/usr/bin/as", ["--64", "-o", objectPath, sourcePath])
        let text = try run("/usr/bin/objdump", ["-d", "-M", "intel", objectPath])
        var result: [([UInt8], String)] = []
        for line in text.split(separator: "\n") {
            // "   3:\t0f 01 10             \tlgdt   [rax]"
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count >= 3, fields[0].hasSuffix(":"), fields[0].first == " " else { continue }
            let bytes = fields[1].split(separator: " ").compactMap { UInt8($0, radix: 16) }
            let disassembly = fields[2...].joined(separator: " ").split(separator: " ").joined(separator: " ")
            result.append((bytes, disassembly))
        }
        return result
    }

    static func run(_ tool: String, _ arguments: [String]) throws -> String {
        guard FileManager.default.isExecutableFile(atPath: tool) else {
            Issue.record("MISSING PEER: \(tool) (apt-get install binutils)")
            return ""
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(tool) \(arguments) failed")
        return String(decoding: data, as: UTF8.self)
    }
}

private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined(separator: " ") }

private let registerNames: [Int: [String]] = [
    8: ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"] + (8...15).map { "r\($0)" },
    4: ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"] + (8...15).map { "r\($0)d" },
    2: ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"] + (8...15).map { "r\($0)w" },
    1: ["al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil"] + (8...15).map { "r\($0)b" },
]

/// An operand as objdump's Intel syntax prints it; `memory` names the access width.
private func operandText(_ o: Operand, memory: Int) -> String {
    switch o {
    case .register(let r, let size): return registerNames[size]?[r] ?? "?"
    case .immediate(let v): return "0x" + String(v, radix: 16)
    case .memory(let m):
        let base = m.base.map { registerNames[8]?[$0] ?? "?" } ?? "?"
        let width = [1: "BYTE PTR ", 2: "WORD PTR ", 4: "DWORD PTR ", 6: "FWORD PTR ", 8: "QWORD PTR "][memory] ?? ""
        return width + "[\(base)]"
    default: return "?"
    }
}

private func segmentName(_ s: SegmentRegister) -> String { ["es", "cs", "ss", "ds", "fs", "gs"][s.rawValue] }

/// The decoded system instruction in objdump's Intel syntax (only what these tests use).
private func intelText(_ i: Instruction) -> String {
    guard case .system(let op) = i.mnemonic else { return "not a system instruction: \(i.mnemonic)" }
    let ops = i.operands
    func first(_ memory: Int) -> String { ops.isEmpty ? "" : operandText(ops[0], memory: memory) }
    let sizeSuffix = [2: "w", 4: "", 8: "q"][i.operandSize] ?? "?"
    let stringWidth = [1: "BYTE", 2: "WORD", 4: "DWORD"][i.operandSize] ?? "?"
    let rep = i.prefixes.rep ? "rep " : ""
    switch op {
    case .moveToControl(let n): return "mov cr\(n),\(first(8))"
    case .moveFromControl(let n): return "mov \(first(8)),cr\(n)"
    case .moveToDebug(let n): return "mov dr\(n),\(first(8))"
    case .moveFromDebug(let n): return "mov \(first(8)),dr\(n)"
    case .loadGDT: return "lgdt \(first(10))"
    case .loadIDT: return "lidt \(first(10))"
    case .storeGDT: return "sgdt \(first(10))"
    case .storeIDT: return "sidt \(first(10))"
    case .loadLDT: return "lldt \(first(2))"
    case .loadTaskRegister: return "ltr \(first(2))"
    case .storeLDT: return "sldt \(first(2))"
    case .storeTaskRegister: return "str \(first(2))"
    case .loadMachineStatusWord: return "lmsw \(first(2))"
    case .storeMachineStatusWord: return "smsw \(first(2))"
    case .invalidatePage: return "invlpg \(first(1))"
    case .swapGS: return "swapgs"
    case .readTimeStampCounterAndAux: return "rdtscp"
    case .verifyRead: return "verr \(first(2))"
    case .verifyWrite: return "verw \(first(2))"
    case .loadAccessRights: return "lar \(first(0)),\(operandText(ops[1], memory: 2))"
    case .loadSegmentLimit: return "lsl \(first(0)),\(operandText(ops[1], memory: 2))"
    case .portIn: return "in \(first(0)),\(operandText(ops[1], memory: 0))"
    case .portOut: return "out \(first(0)),\(operandText(ops[1], memory: 0))"
    case .portInString: return "\(rep)ins \(stringWidth) PTR es:[rdi],dx"
    case .portOutString: return "\(rep)outs dx,\(stringWidth) PTR ds:[rsi]"
    case .readMSR: return "rdmsr"
    case .writeMSR: return "wrmsr"
    case .clearInterruptFlag: return "cli"
    case .setInterruptFlag: return "sti"
    case .clearTaskSwitched: return "clts"
    case .interruptReturn: return "iret" + sizeSuffix
    case .systemReturn: return i.operandSize == 8 ? "sysretq" : "sysretd"
    case .softwareInterrupt: return "int \(first(0))"
    case .farJump: return "jmp \(first(i.operandSize + 2))"
    case .farCall: return "call \(first(i.operandSize + 2))"
    case .farReturn: return "retf" + sizeSuffix + (ops.isEmpty ? "" : " \(first(0))")
    case .moveFromSegment(let s): return "mov \(first(2)),\(segmentName(s))"
    case .moveToSegment(let s): return "mov \(segmentName(s)),\(first(2))"
    case .pushSegment(let s): return "push" + (i.operandSize == 2 ? "w" : "") + " \(segmentName(s))"
    case .popSegment(let s): return "pop" + (i.operandSize == 2 ? "w" : "") + " \(segmentName(s))"
    case .writeBackAndInvalidateCaches: return "wbinvd"
    case .invalidateCaches: return "invd"
    }
}
