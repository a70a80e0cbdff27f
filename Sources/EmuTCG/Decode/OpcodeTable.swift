/// How an opcode of the 0F, 0F 38 or 0F 3A map decodes: which operands it reads and what it
/// becomes. `DecodeCursor.decode(_:opcode:)` turns a form into an `Instruction`.
enum OpcodeForm {
    case invalid
    /// Undefined, but the ModRM byte (with SIB and displacement) is read first, so a missing
    /// byte is a fetch fault as for the opcode's defined forms.
    case invalidAfterModRM
    /// Under F3 or F2: the 66 form when a 66 prefix is present too, else undefined.
    case operandSizeFormIf66
    /// The 0F 38 and 0F 3A escapes.
    case escape38, escape3A

    // Integer and system forms.
    /// No operands, 64-bit operation size (SYSCALL, UD2, RDTSC, CPUID, RDMSR, WRMSR, CLTS, …).
    case noOperands(Mnemonic)
    /// A ModRM byte and no effect (PREFETCH*, hint NOPs, ENDBR64).
    case hintNop
    /// CMOVcc r, r/m; Jcc rel32; SETcc r/m8 (condition from the opcode's low four bits).
    case conditionalMove, conditionalJump, conditionalSet
    /// r/m, r (`byte`: 8-bit operands, else the operand size).
    case rmReg(Mnemonic, byte: Bool)
    /// r, r/m at the operand size.
    case regRM(Mnemonic)
    /// MOVZX/MOVSX r, r/m8 or r/m16.
    case extend(Mnemonic, source: Int)
    /// SHLD/SHRD r/m, r, imm8 or CL.
    case doubleShift(Mnemonic, immediateCount: Bool)
    /// 0F BA: BT/BTS/BTR/BTC r/m, imm8.
    case bitTestGroup
    /// 0F AE: fences, FXSAVE/FXRSTOR, LDMXCSR/STMXCSR, CLFLUSH.
    case group15
    /// 0F C7: CMPXCHG8B/CMPXCHG16B.
    case group9
    /// BSWAP r (register from the opcode's low three bits).
    case byteSwap
    /// 0F 00: SLDT, STR, LLDT, LTR, VERR, VERW.
    case group6
    /// 0F 01: SGDT, SIDT, LGDT, LIDT, SMSW, LMSW, INVLPG, SWAPGS, RDTSCP.
    case group7
    /// LAR/LSL r, r/m: a selector in the source's low 16 bits (memory: 16 bits).
    case selectorQuery(SystemOperation)
    /// MOV to or from a control register (0F 20/22) or debug register (0F 21/23): the ModRM byte
    /// always names registers, whatever its mod field.
    case controlRegisterMove(toControl: Bool), debugRegisterMove(toDebug: Bool)
    /// SYSRET: to 64-bit code with REX.W, else to compatibility mode.
    case systemReturn
    /// PUSH FS/GS and POP FS/GS at the stack operand size.
    case segmentPush(SegmentRegister), segmentPop(SegmentRegister)

    // SSE forms on XMM registers.
    /// xmm, xmm/m (or xmm/m, xmm when `store`).
    case xmmMove(Mnemonic, store: Bool)
    /// m, xmm: memory destination only (MOVNTPS/PD, MOVNTDQ).
    case xmmStoreToMemory(Mnemonic)
    /// xmm, m: memory source only (LDDQU, MOVNTDQA).
    case xmmLoadFromMemory(Mnemonic)
    /// MOVLPS/PD, MOVHPS/PD xmm, m64; the register form is MOVHLPS/MOVLHPS when `registerForm`.
    case halfLoad(high: Bool, registerForm: Bool)
    /// MOVLPS/PD, MOVHPS/PD m64, xmm.
    case halfStore(high: Bool)
    /// MOVSLDUP/MOVSHDUP: a PSHUFD with a fixed selector.
    case duplicateDwords(selector: UInt64)
    /// MOVDDUP xmm, xmm/m64.
    case duplicateLow
    /// A packed operation xmm, xmm/m128.
    case xmmPacked(PackedOp)
    /// A packed operation with a selector: xmm, xmm/m128, imm8.
    case xmmShuffle(PackedOp)
    /// An immediate packed shift group (0F 71/72/73: reg field selects the shift) on XMM, or on
    /// MMX registers when not `xmm`.
    case packedShiftGroup(xmm: Bool)
    /// Floating-point arithmetic xmm, xmm/m (an imm8 for compare, round and dot product).
    case floatArithmetic(FloatOp, FloatShape)
    case convertFloat(FloatConversion)
    case convertIntegerToFloat(double: Bool)
    case convertFloatToInteger(double: Bool, truncate: Bool)
    case compareScalarFlags(double: Bool, ordered: Bool)
    /// MOVMSKPS/PD, PMOVMSKB r32, xmm (register source only).
    case xmmMoveMask(PackedOp)
    /// MOVD/MOVQ xmm, r/m32/64; MOVD/MOVQ r/m32/64, xmm.
    case movdToXMM, movdFromXMM
    /// MOVQ xmm, xmm/m64; MOVQ xmm/m64, xmm.
    case movqLoad, movqStore
    /// PEXTRW r32, xmm, imm8 (the 0F C5 register form).
    case extractWordToGPR
    /// PEXTRB/W/D/Q, EXTRACTPS r/m, xmm, imm8; `bytes` 4 becomes 8 with REX.W when `widenedByREXW`.
    case extractLane(bytes: Int, widenedByREXW: Bool)
    /// PINSRB/W/D/Q xmm, r/m, imm8 (same widths as `extractLane`).
    case insertLane(bytes: Int, widenedByREXW: Bool)
    case insertps
    /// PMOVSX/PMOVZX xmm, xmm/m (`source` bytes of memory).
    case packedExtend(PackedOp, source: Int)
    case ptest
    /// CRC32 r, r/m8 (0F 38 F0) or r/m16/32/64 (F1).
    case crc32
    case stringCompare(explicit: Bool, index: Bool)

    // MMX forms (MM registers ignore REX).
    /// A packed operation mm, mm/m64.
    case mmxPacked(PackedOp)
    /// mm, mm/m64, imm8 (PSHUFW, PALIGNR).
    case mmxShuffle(PackedOp)
    /// MOVD/MOVQ mm, r/m32/64 and r/m32/64, mm.
    case mmxFromGPR, mmxToGPR
    /// MOVQ mm, mm/m64.
    case mmxLoad
    /// MOVQ mm/m64, mm (register form only when `registerForm`: MOVNTQ takes memory).
    case mmxStore(registerForm: Bool)
    case mmxMoveMask, mmxMaskMove, mmxInsertWord, mmxExtractWord, emms
    /// MOVQ2DQ xmm, mm and MOVDQ2Q mm, xmm (register forms).
    case mmToXMM, xmmToMM
    /// CVTPI2PS/PD xmm, mm/m64.
    case convertMMToXMM(FloatConversion)
    /// CVT(T)PS2PI/CVT(T)PD2PI mm, xmm/m (`source` bytes of memory).
    case convertXMMToMM(FloatConversion, source: Int)
}

/// One opcode's forms under each mandatory prefix (`MandatoryPrefix`).
struct OpcodeRow {
    var none: OpcodeForm
    var operandSize: OpcodeForm
    var rep: OpcodeForm
    var repne: OpcodeForm

    init(none: OpcodeForm = .invalid, operandSize: OpcodeForm = .invalid, rep: OpcodeForm = .invalid,
         repne: OpcodeForm = .invalid) {
        self.none = none
        self.operandSize = operandSize
        self.rep = rep
        self.repne = repne
    }

    /// The same form whatever the prefixes (66, F2 and F3 keep their other meanings).
    static func any(_ form: OpcodeForm) -> OpcodeRow { OpcodeRow(none: form, operandSize: form, rep: form, repne: form) }

    /// A packed integer operation in its MMX (no prefix) and SSE (66) forms.
    static func mmxOrXMM(_ op: PackedOp) -> OpcodeRow { OpcodeRow(none: .mmxPacked(op), operandSize: .xmmPacked(op)) }

    /// A floating-point operation in its four shapes: PS, PD (66), SS (F3), SD (F2).
    static func float(_ op: FloatOp) -> OpcodeRow {
        OpcodeRow(none: .floatArithmetic(op, .packedSingle), operandSize: .floatArithmetic(op, .packedDouble),
                  rep: .floatArithmetic(op, .scalarSingle), repne: .floatArithmetic(op, .scalarDouble))
    }

    /// The form these prefixes select.
    subscript(_ prefix: MandatoryPrefix) -> OpcodeForm {
        switch prefix {
        case .none: return none
        case .operandSize: return operandSize
        case .rep: return rep
        case .repne: return repne
        }
    }
}

/// A 256-entry opcode map, every opcode invalid until `set` says otherwise.
struct OpcodeMap {
    private(set) var rows = [OpcodeRow](repeating: OpcodeRow(), count: 256)

    /// Gives `opcodes` the row `row`.
    mutating func set(_ opcodes: UInt8..., to row: OpcodeRow) {
        for op in opcodes { rows[Int(op)] = row }
    }

    /// Gives the opcodes `range` the row `row`.
    mutating func set(_ range: ClosedRange<UInt8>, to row: OpcodeRow) {
        for op in range { rows[Int(op)] = row }
    }

    /// The form of `opcode` under `prefix`.
    func form(_ opcode: UInt8, _ prefix: MandatoryPrefix) -> OpcodeForm { rows[Int(opcode)][prefix] }
}
