import Testing
@testable import EmuTCG

@Suite struct DecoderTests {
    func decode(_ bytes: [UInt8], at address: UInt64 = 0x1000) throws(DecodeError) -> Instruction {
        try Decoder().decode(at: address) { a in
            a >= address && a - address < UInt64(bytes.count) ? bytes[Int(a - address)] : nil
        }
    }

    @Test func registerToRegisterWithREX() throws {
        // mov r12d, r13d
        let i = try decode([0x45, 0x89, 0xEC])
        #expect(i.length == 3 && i.mnemonic == .mov && i.operandSize == 4)
        #expect(i.operands == [.register(12, size: 4), .register(13, size: 4)])
    }

    @Test func popcntAndCmpxchg16bEncodings() throws {
        // popcnt r9, [rax]; popcnt cx, dx; lock cmpxchg16b [rdi+8]
        let p = try decode([0xF3, 0x4C, 0x0F, 0xB8, 0x08])
        #expect(p.mnemonic == .popcnt && p.operandSize == 8 && p.length == 5)
        #expect(p.operands == [.register(9, size: 8), .memory(MemoryOperand(base: 0))])
        let w = try decode([0x66, 0xF3, 0x0F, 0xB8, 0xCA])
        #expect(w.mnemonic == .popcnt && w.operands == [.register(1, size: 2), .register(2, size: 2)])
        let c = try decode([0xF0, 0x48, 0x0F, 0xC7, 0x4F, 0x08])
        #expect(c.mnemonic == .cmpxchg16b && c.prefixes.lock && c.length == 6)
        #expect(c.operands == [.memory(MemoryOperand(base: 7, displacement: 8))])
        // F3 0F BD is LZCNT (ABM advertised); F3 0F BC stays BSF (no BMI1); 0F BD is BSR.
        #expect(try decode([0xF3, 0x48, 0x0F, 0xBD, 0xC1]).mnemonic == .lzcnt)
        #expect(try decode([0xF3, 0x0F, 0xBC, 0xC1]).mnemonic == .bsf)
        #expect(try decode([0x0F, 0xBD, 0xC1]).mnemonic == .bsr)
        // Without F3, 0F B8 is JMPE (IA-64 only): #UD. CMPXCHG16B needs a memory operand.
        #expect(throws: DecodeError.invalidOpcode(address: 0x1000)) { try decode([0x0F, 0xB8, 0xC0]) }
        #expect(throws: DecodeError.invalidOpcode(address: 0x1000)) { try decode([0x48, 0x0F, 0xC7, 0xC8]) }
    }

    @Test func sse3Encodings() throws {
        // haddps xmm1, xmm2; hsubpd xmm9, [rax]; addsubps xmm0, xmm15
        let h = try decode([0xF2, 0x0F, 0x7C, 0xCA])
        #expect(h.mnemonic == .floatArithmetic(.horizontalAdd, .packedSingle) && h.operands == [.xmm(1), .xmm(2)])
        let s = try decode([0x66, 0x44, 0x0F, 0x7D, 0x08])
        #expect(s.mnemonic == .floatArithmetic(.horizontalSub, .packedDouble) && s.operands == [.xmm(9), .memory(MemoryOperand(base: 0))])
        let a = try decode([0xF2, 0x41, 0x0F, 0xD0, 0xC7])
        #expect(a.mnemonic == .floatArithmetic(.addSub, .packedSingle) && a.operands == [.xmm(0), .xmm(15)])
        // movddup xmm3, [rsi] (8 bytes); movsldup / movshdup as fixed dword shuffles; lddqu
        let d = try decode([0xF2, 0x0F, 0x12, 0x1E])
        #expect(d.mnemonic == .movddup && d.sourceSize == 8)
        #expect(try decode([0xF3, 0x0F, 0x12, 0xC1]).operands == [.xmm(0), .xmm(1), .immediate(0xA0)])
        #expect(try decode([0xF3, 0x0F, 0x16, 0xC1]).operands == [.xmm(0), .xmm(1), .immediate(0xF5)])
        #expect(try decode([0xF2, 0x0F, 0xF0, 0x00]).mnemonic == .move128)
        // Unprefixed 0F 7C and register-form LDDQU are #UD; F2 0F 12 with a register is MOVDDUP, not MOVHLPS.
        #expect(throws: DecodeError.invalidOpcode(address: 0x1000)) { try decode([0x0F, 0x7C, 0xC1]) }
        #expect(throws: DecodeError.invalidOpcode(address: 0x1000)) { try decode([0xF2, 0x0F, 0xF0, 0xC1]) }
        #expect(try decode([0xF2, 0x0F, 0x12, 0xC1]).mnemonic == .movddup)
    }

    @Test func ssse3ThreeByteEncodings() throws {
        // pshufb xmm8, [rip+0x10]; pabsd xmm1, xmm14; palignr xmm2, xmm3, 5
        let p = try decode([0x66, 0x44, 0x0F, 0x38, 0x00, 0x05, 0x10, 0, 0, 0])
        #expect(p.mnemonic == .packed(.pshufb) && p.length == 10)
        #expect(p.operands == [.xmm(8), .memory(MemoryOperand(displacement: 0x1000 + 10 + 0x10, ripRelative: true))])
        let a = try decode([0x66, 0x41, 0x0F, 0x38, 0x1E, 0xCE])
        #expect(a.mnemonic == .packed(.pabsd) && a.operands == [.xmm(1), .xmm(14)])
        let r = try decode([0x66, 0x0F, 0x3A, 0x0F, 0xD3, 0x05])
        #expect(r.mnemonic == .shuffle(.palignr) && r.operands == [.xmm(2), .xmm(3), .immediate(5)] && r.length == 6)
        // Without 66, the MMX form: MM registers ignore REX.
        let mm = try decode([0x41, 0x0F, 0x38, 0x00, 0xC9])
        #expect(mm.mnemonic == .mmx(.packed(.pshufb)) && mm.operands == [.mmx(1), .mmx(1)])
        #expect(throws: DecodeError.invalidOpcode(address: 0x1000)) { try decode([0x0F, 0x38, 0x20, 0xC1]) }
        #expect(throws: DecodeError.invalidOpcode(address: 0x1000)) { try decode([0x66, 0x0F, 0x38, 0x0C, 0xC1]) }
        #expect(throws: DecodeError.invalidOpcode(address: 0x1000)) { try decode([0x66, 0x0F, 0x3A, 0x7F, 0xC1, 0]) }
    }

    @Test func sse4Encodings() throws {
        // pmovzxbd xmm3, [rax] (4 bytes); ptest xmm0, xmm9; roundsd xmm1, [rbx], 9; pblendw xmm2, xmm3, 0xF0
        let z = try decode([0x66, 0x0F, 0x38, 0x31, 0x18])
        #expect(z.mnemonic == .packedExtend(.pmovzxbd) && z.sourceSize == 4)
        let t = try decode([0x66, 0x41, 0x0F, 0x38, 0x17, 0xC1])
        #expect(t.mnemonic == .ptest && t.operands == [.xmm(0), .xmm(9)])
        let r = try decode([0x66, 0x0F, 0x3A, 0x0B, 0x0B, 0x09])
        #expect(r.mnemonic == .floatArithmetic(.round, .scalarDouble) && r.sourceSize == 8 && r.length == 6)
        #expect(r.operands == [.xmm(1), .memory(MemoryOperand(base: 3)), .immediate(9)])
        let w = try decode([0x66, 0x0F, 0x3A, 0x0E, 0xD3, 0xF0])
        #expect(w.mnemonic == .shuffle(.pblendw) && w.operands == [.xmm(2), .xmm(3), .immediate(0xF0)])
        #expect(try decode([0x66, 0x0F, 0x38, 0x37, 0xC1]).mnemonic == .packed(.pcmpgtq))
        // pextrq r9, xmm2, 1; pinsrb xmm5, eax, 15; pextrw ecx, xmm7, 3 (SSE2 0F C5); dpps xmm0, xmm1, 0xFF
        let e = try decode([0x66, 0x49, 0x0F, 0x3A, 0x16, 0xD1, 0x01])
        #expect(e.mnemonic == .extractLane && e.operandSize == 8 && e.operands == [.register(9, size: 8), .xmm(2), .immediate(1)])
        let i = try decode([0x66, 0x0F, 0x3A, 0x20, 0xE8, 0x0F])
        #expect(i.mnemonic == .insertLane && i.operandSize == 1 && i.operands == [.xmm(5), .register(0, size: 4), .immediate(15)])
        let w2 = try decode([0x66, 0x0F, 0xC5, 0xCF, 0x03])
        #expect(w2.mnemonic == .extractLane && w2.operandSize == 2 && w2.operands == [.register(1, size: 4), .xmm(7), .immediate(3)])
        #expect(try decode([0x66, 0x0F, 0x3A, 0x40, 0xC1, 0xFF]).mnemonic == .floatArithmetic(.dotProduct, .packedSingle))
        // pcmpistri xmm0, [rax], 0x1A; crc32 r10, qword [rbx]; crc32 ecx, ah
        let c = try decode([0x66, 0x0F, 0x3A, 0x63, 0x00, 0x1A])
        #expect(c.mnemonic == .stringCompare(explicit: false, index: true) && c.length == 6)
        let q = try decode([0xF2, 0x4C, 0x0F, 0x38, 0xF1, 0x13])
        #expect(q.mnemonic == .crc32 && q.operandSize == 8 && q.sourceSize == 8 && q.operands[0] == .register(10, size: 8))
        let h = try decode([0xF2, 0x0F, 0x38, 0xF0, 0xCC])
        #expect(h.mnemonic == .crc32 && h.operands == [.register(1, size: 4), .highByte(0)])
        // PEXTRW's 0F C5 form has no memory operand, in either the SSE2 or the MMX form; PINSRW
        // without 66 is the MMX form.
        #expect(throws: DecodeError.invalidOpcode(address: 0x1000)) { try decode([0x66, 0x0F, 0xC5, 0x07, 0x01]) }
        #expect(throws: DecodeError.invalidOpcode(address: 0x1000)) { try decode([0x0F, 0xC5, 0x07, 0x01]) }
        let mmInsert = try decode([0x0F, 0xC4, 0xC0, 0x01])
        #expect(mmInsert.mnemonic == .mmx(.insertWord) && mmInsert.operands == [.mmx(0), .register(0, size: 4), .immediate(1)])
        // Without 66 (or with F3) these are #UD.
        #expect(throws: DecodeError.invalidOpcode(address: 0x1000)) { try decode([0x0F, 0x38, 0x17, 0xC1]) }
        #expect(throws: DecodeError.invalidOpcode(address: 0x1000)) { try decode([0x66, 0xF3, 0x0F, 0x3A, 0x0B, 0xC1, 0]) }
    }

    @Test func ripRelativeIsResolvedAgainstTheNextInstruction() throws {
        // mov r9d, [rip + 0xa9074] at 0x402301 (7 bytes) → 0x4ab37c
        let i = try decode([0x44, 0x8B, 0x0D, 0x74, 0x90, 0x0A, 0x00], at: 0x402301)
        guard case .memory(let m) = i.operands[1] else { Issue.record("not memory"); return }
        #expect(i.length == 7 && m.ripRelative && m.displacement == 0x4AB37C && m.base == nil)
    }

    @Test func immediateLengthsCountTowardTheInstruction() throws {
        // and eax, 0x2d82203
        let i = try decode([0x25, 0x03, 0x22, 0xD8, 0x02])
        #expect(i.length == 5 && i.operands == [.register(0, size: 4), .immediate(0x2D8_2203)])
        // mov rax, imm64
        let j = try decode([0x48, 0xB8, 1, 2, 3, 4, 5, 6, 7, 8])
        #expect(j.length == 10 && j.operands[1] == .immediate(0x0807_0605_0403_0201))
        // add qword [rsp+8], -1 (sign-extended imm8)
        let k = try decode([0x48, 0x83, 0x44, 0x24, 0x08, 0xFF])
        #expect(k.length == 6 && k.operands[1] == .immediate(UInt64.max))
    }

    @Test func sibWithIndexScaleAndDisplacement() throws {
        // lea rax, [rbx + rcx*8 + 0x10]
        let i = try decode([0x48, 0x8D, 0x44, 0xCB, 0x10])
        guard case .memory(let m) = i.operands[1] else { Issue.record("not memory"); return }
        #expect(m.base == 3 && m.index == 1 && m.scale == 8 && m.displacement == 0x10 && i.length == 5)
        // mov eax, [r13 + r12*1] needs mod 1 with disp8 0 for base r13
        let j = try decode([0x43, 0x8B, 0x44, 0x25, 0x00])
        guard case .memory(let n) = j.operands[1] else { Issue.record("not memory"); return }
        #expect(n.base == 13 && n.index == 12 && n.scale == 1 && j.length == 5)
        // no base: [rcx*4 + disp32]
        let k = try decode([0x8B, 0x04, 0x8D, 0x00, 0x10, 0x00, 0x00])
        guard case .memory(let o) = k.operands[1] else { Issue.record("not memory"); return }
        #expect(o.base == nil && o.index == 1 && o.scale == 4 && o.displacement == 0x1000)
    }

    @Test func operandSizePrefixesAndHighByteRegisters() throws {
        let w = try decode([0x66, 0x01, 0xD8]) // add ax, bx
        #expect(w.operandSize == 2 && w.operands == [.register(0, size: 2), .register(3, size: 2)])
        let ah = try decode([0x88, 0xE0]) // mov al, ah
        #expect(ah.operands == [.register(0, size: 1), .highByte(0)])
        let spl = try decode([0x40, 0x88, 0xE0]) // mov al, spl
        #expect(spl.operands == [.register(0, size: 1), .register(4, size: 1)])
        let fs = try decode([0x64, 0x48, 0x8B, 0x04, 0x25, 0x28, 0, 0, 0]) // mov rax, fs:[0x28]
        guard case .memory(let m) = fs.operands[1] else { Issue.record("not memory"); return }
        #expect(m.segment == .fs && m.displacement == 0x28 && fs.length == 9)
    }

    @Test func branchesCarryAbsoluteTargets() throws {
        let j = try decode([0x74, 0xFE], at: 0x2000) // je self
        #expect(j.mnemonic == .jcc && j.condition == 4 && j.operands == [.immediate(0x2000)])
        let c = try decode([0xE8, 0x00, 0x01, 0x00, 0x00], at: 0x2000)
        #expect(c.mnemonic == .call && c.operands == [.immediate(0x2105)])
    }

    @Test func sseEncodingsNeedTheirMandatoryPrefix() throws {
        let p = try decode([0x66, 0x0F, 0xEF, 0xC1]) // pxor xmm0, xmm1
        #expect(p.mnemonic == .packed(.pxor) && p.operands == [.xmm(0), .xmm(1)])
        let m = try decode([0x66, 0x0F, 0xD7, 0xC8]) // pmovmskb ecx, xmm0
        #expect(m.mnemonic == .moveMask(.pmovmskb) && m.operands == [.register(1, size: 4), .xmm(0)])
        // Without 66 these are the MMX forms; with F3 or F2 they are #UD; PUNPCKLQDQ/PUNPCKHQDQ
        // and PSRLDQ/PSLLDQ have no MMX form.
        let x = try decode([0x0F, 0xEF, 0xC1])
        #expect(x.mnemonic == .mmx(.packed(.pxor)) && x.operands == [.mmx(0), .mmx(1)])
        let k = try decode([0x0F, 0xD7, 0xC8])
        #expect(k.mnemonic == .mmx(.moveMask) && k.operands == [.register(1, size: 4), .mmx(0)])
        for code: [UInt8] in [[0xF3, 0x0F, 0xEF, 0xC1], [0xF2, 0x0F, 0xEF, 0xC1], [0x0F, 0x6C, 0xC1], [0x0F, 0x6D, 0xC1],
                              [0x0F, 0x73, 0xD8, 0x01], [0x0F, 0x73, 0xF8, 0x01], [0x0F, 0xD6, 0xC1], [0xF3, 0x0F, 0xD6, 0x01]] {
            #expect(throws: DecodeError.invalidOpcode(address: 0x1000)) { try decode(code) }
        }
    }

    @Test func mandatoryPrefixColumns() throws {
        // F3 and F2 select their column over 66: movdqu, cvtss2sd, pshuflw.
        #expect(try decode([0x66, 0xF3, 0x0F, 0x6F, 0xC1]).mnemonic == .move128)
        #expect(try decode([0x66, 0xF3, 0x0F, 0x5A, 0xC1]).mnemonic == .convertFloat(.scalarSingleToDouble))
        #expect(try decode([0xF2, 0x66, 0x0F, 0x70, 0xC1, 0x1B]).mnemonic == .shuffle(.pshuflw))
        // The last of F2/F3 counts: F2 F3 0F 10 is MOVSS, F3 F2 0F 10 is MOVSD.
        #expect(try decode([0xF2, 0xF3, 0x0F, 0x10, 0xC1]).mnemonic == .movss)
        #expect(try decode([0xF3, 0xF2, 0x0F, 0x10, 0xC1]).mnemonic == .movsdSSE)
        // Where F2/F3 alone is undefined, some opcodes take their 66 form when 66 is also there.
        #expect(throws: DecodeError.invalidOpcode(address: 0x1000)) { try decode([0xF2, 0x0F, 0x6F, 0xC1]) }
        #expect(try decode([0x66, 0xF2, 0x0F, 0x6F, 0xC1]).mnemonic == .alignedMove128)
        #expect(try decode([0x66, 0xF3, 0x0F, 0x6E, 0xC1]).mnemonic == .movdToXMM)
        // An undefined conversion form still reads its ModRM first: a missing ModRM is a fetch fault.
        #expect(throws: DecodeError.fetchFault(address: 0x1002)) { try decode([0x0F, 0xE6]) }
        #expect(throws: DecodeError.invalidOpcode(address: 0x1000)) { try decode([0x0F, 0xE6, 0xC1]) }
    }

    @Test func decodeModeIsThreadedThroughTheDecoderAndTranslator() throws {
        let bytes: [UInt8] = [0x48, 0x01, 0xD8, 0xC3] // add rax, rbx; ret
        let fetch: (UInt64) -> UInt8? = { $0 < UInt64(bytes.count) ? bytes[Int($0)] : nil }
        let i = try Decoder(mode: .long64).decode(at: 0, fetch: fetch)
        #expect(i == (try Decoder().decode(at: 0, fetch: fetch)))
        #expect(i.operandSize == 8 && i.length == 3)
        let block = Translator().translate(at: 0, mode: .long64, fetch: fetch)
        #expect(block.instructionCount == 2 && block.end == 4)
    }

    @Test func undefinedAndOverlongEncodingsAreInvalid() throws {
        #expect(throws: DecodeError.invalidOpcode(address: 0x1000)) { try decode([0x0F, 0x0B + 0x2C]) } // 0F 37
        #expect(throws: DecodeError.invalidOpcode(address: 0x1000)) { try decode([0xF0, 0x89, 0xC0]) } // LOCK on a register mov
        #expect(throws: DecodeError.invalidOpcode(address: 0x1000)) { try decode([UInt8](repeating: 0x66, count: 15) + [0x90]) }
        #expect(throws: DecodeError.invalidOpcode(address: 0x1000)) { try decode([0x8D, 0xC0]) } // lea with a register
    }

    @Test func truncatedInstructionsReportTheMissingByte() throws {
        #expect(throws: DecodeError.fetchFault(address: 0x1003)) { try decode([0x48, 0xB8, 1]) }
    }

    @Test func hostileByteStreamsNeverTrap() throws {
        var rng = SeededGenerator(seed: 7)
        var decoded = 0, invalid = 0, truncated = 0
        for _ in 0..<20_000 {
            let n = Int.random(in: 1...16, using: &rng)
            let bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            do {
                let i = try decode(bytes)
                #expect(i.length >= 1 && i.length <= 15 && i.length <= bytes.count)
                decoded += 1
            } catch {
                switch error {
                case .invalidOpcode: invalid += 1
                case .fetchFault(let a):
                    #expect(a == 0x1000 + UInt64(bytes.count))
                    truncated += 1
                }
            }
        }
        #expect(decoded > 1000 && invalid > 100 && truncated > 100)
    }
}
