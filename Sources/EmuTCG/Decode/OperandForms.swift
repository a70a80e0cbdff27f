extension FloatOp {
    /// Whether the instruction ends in an imm8 (the predicate, rounding mode or lane masks).
    var takesImmediate: Bool { self == .compare || self == .round || self == .dotProduct }
}

extension DecodeCursor {
    /// Reads the operands `form` asks for (ModRM, immediates) and builds the instruction;
    /// `opcode` supplies what the form leaves to it (a condition, a register, a group's shifts).
    mutating func decode(_ form: OpcodeForm, opcode op: UInt8) throws(DecodeError) -> Instruction {
        let size = operandSize
        switch form {
        case .invalid:
            throw invalid
        case .invalidAfterModRM:
            _ = try modrm()
            throw invalid
        case .operandSizeFormIf66:
            guard prefixes.operandSizeOverride else { throw invalid }
            return try decode(twoByteMap.form(op, .operandSize), opcode: op)
        case .escape38:
            return try threeByte38()
        case .escape3A:
            return try threeByte3A()

        // Integer and system.
        case .noOperands(let mn):
            return make(mn, 8, [])
        case .hintNop:
            _ = try modrm()
            return make(.nop, size, [])
        case .conditionalMove:
            let m = try modrm()
            return make(.cmov, size, [gpr(m.reg, size: size), rmOperand(m, size: size)], cc: op & 15)
        case .conditionalJump:
            let rel = try imm32()
            return make(.jcc, 8, [.immediate(relativeTarget(rel))], cc: op & 15)
        case .conditionalSet:
            let m = try modrm()
            return make(.setcc, 1, [rmOperand(m, size: 1)], cc: op & 15)
        case .rmReg(let mn, let byte):
            let s = byte ? 1 : size
            let m = try modrm()
            return make(mn, s, [rmOperand(m, size: s), gpr(m.reg, size: s)])
        case .regRM(let mn):
            let m = try modrm()
            return make(mn, size, [gpr(m.reg, size: size), rmOperand(m, size: size)])
        case .extend(let mn, let source):
            let m = try modrm()
            return make(mn, size, [gpr(m.reg, size: size), rmOperand(m, size: source)], source: source)
        case .doubleShift(let mn, let immediateCount):
            let m = try modrm()
            let count: Operand = immediateCount ? .immediate(try immByte()) : .register(1, size: 1)
            return make(mn, size, [rmOperand(m, size: size), gpr(m.reg, size: size), count])
        case .bitTestGroup:
            let m = try modrm()
            let mn: Mnemonic
            switch m.reg & 7 {
            case 4: mn = .bt
            case 5: mn = .bts
            case 6: mn = .btr
            case 7: mn = .btc
            default: throw invalid
            }
            return make(mn, size, [rmOperand(m, size: size), .immediate(try immByte())])
        case .group15:
            let m = try modrm()
            if m.memory == nil {
                switch m.reg & 7 {
                case 5, 6, 7: return make(.fence, 8, [])
                default: throw invalid
                }
            }
            switch m.reg & 7 {
            case 0, 1:
                // NP 0F AE /0 and /1: F2/F3 select other instructions (none implemented).
                guard !prefixes.rep && !prefixes.repne else { throw invalid }
                return make(m.reg & 7 == 0 ? .fxsave : .fxrstor, 8, [rmOperand(m, size: 8)])
            case 2: return make(.ldmxcsr, 4, [rmOperand(m, size: 4)])
            case 3: return make(.stmxcsr, 4, [rmOperand(m, size: 4)])
            case 7: return make(.nop, 8, []) // CLFLUSH: no cache to flush
            default: throw invalid
            }
        case .group9:
            let m = try modrm()
            guard m.reg & 7 == 1, m.memory != nil else { throw invalid }
            return make(rexW ? .cmpxchg16b : .cmpxchg8b, rexW ? 16 : 8, [rmOperand(m, size: 8)])
        case .byteSwap:
            return make(.bswap, size, [.register(Int(op & 7) + rexB, size: size)])
        case .group6:
            let m = try modrm()
            switch m.reg & 7 {
            case 0, 1:
                // SLDT, STR: a register destination at the operand size, memory at 16 bits.
                let s = m.memory == nil ? size : 2
                return make(.system(m.reg & 7 == 0 ? .storeLDT : .storeTaskRegister), s, [rmOperand(m, size: s)])
            case 2: return make(.system(.loadLDT), 2, [rmOperand(m, size: 2)])
            case 3: return make(.system(.loadTaskRegister), 2, [rmOperand(m, size: 2)])
            case 4: return make(.system(.verifyRead), 2, [rmOperand(m, size: 2)])
            case 5: return make(.system(.verifyWrite), 2, [rmOperand(m, size: 2)])
            default: throw invalid
            }
        case .group7:
            let m = try modrm()
            if let mem = m.memory {
                switch m.reg & 7 {
                case 0: return make(.system(.storeGDT), 10, [.memory(mem)])
                case 1: return make(.system(.storeIDT), 10, [.memory(mem)])
                case 2: return make(.system(.loadGDT), 10, [.memory(mem)])
                case 3: return make(.system(.loadIDT), 10, [.memory(mem)])
                case 4: return make(.system(.storeMachineStatusWord), 2, [.memory(mem)])
                case 6: return make(.system(.loadMachineStatusWord), 2, [.memory(mem)])
                case 7: return make(.system(.invalidatePage), 1, [.memory(mem)])
                default: throw invalid
                }
            }
            switch (m.reg & 7, m.rm & 7) {
            case (4, _): return make(.system(.storeMachineStatusWord), size, [.register(m.rm, size: size)])
            case (6, _): return make(.system(.loadMachineStatusWord), 2, [.register(m.rm, size: 2)])
            case (7, 0): return make(.system(.swapGS), 8, [])
            case (7, 1): return make(.system(.readTimeStampCounterAndAux), 8, [])
            default: throw invalid
            }
        case .selectorQuery(let query):
            let m = try modrm()
            return make(.system(query), size, [gpr(m.reg, size: size), rmOperand(m, size: m.memory == nil ? size : 2)])
        case .controlRegisterMove(let toControl):
            let (reg, rm) = try registerPair()
            guard [0, 2, 3, 4, 8].contains(reg) else { throw invalid }
            return make(.system(toControl ? .moveToControl(reg) : .moveFromControl(reg)), 8, [.register(rm, size: 8)])
        case .debugRegisterMove(let toDebug):
            let (reg, rm) = try registerPair()
            guard reg < 8 else { throw invalid }
            return make(.system(toDebug ? .moveToDebug(reg) : .moveFromDebug(reg)), 8, [.register(rm, size: 8)])
        case .systemReturn:
            return make(.system(.systemReturn), rexW ? 8 : 4, [])
        case .segmentPush(let segment):
            return make(.system(.pushSegment(segment)), stackSize, [])
        case .segmentPop(let segment):
            return make(.system(.popSegment(segment)), stackSize, [])

        // SSE.
        case .xmmMove(let mn, let store):
            let m = try modrm()
            let reg = Operand.xmm(m.reg), rm = xmmOrMemory(m)
            return make(mn, 16, store ? [rm, reg] : [reg, rm])
        case .xmmStoreToMemory(let mn):
            let m = try modrm()
            guard m.memory != nil else { throw invalid }
            return make(mn, 16, [xmmOrMemory(m), .xmm(m.reg)])
        case .xmmLoadFromMemory(let mn):
            let m = try modrm()
            guard m.memory != nil else { throw invalid }
            return make(mn, 16, [.xmm(m.reg), xmmOrMemory(m)])
        case .halfLoad(let high, let registerForm):
            let m = try modrm()
            if m.memory == nil {
                guard registerForm else { throw invalid }
                return make(high ? .movlhps : .movhlps, 16, [.xmm(m.reg), .xmm(m.rm)])
            }
            return make(high ? .movhp : .movlp, 16, [.xmm(m.reg), xmmOrMemory(m)])
        case .halfStore(let high):
            let m = try modrm()
            guard m.memory != nil else { throw invalid }
            return make(high ? .movhp : .movlp, 16, [xmmOrMemory(m), .xmm(m.reg)])
        case .duplicateDwords(let selector):
            // MOVSLDUP / MOVSHDUP: dwords 0,0,2,2 / 1,1,3,3 of the source, as PSHUFD would.
            let m = try modrm()
            return make(.shuffle(.pshufd), 16, [.xmm(m.reg), xmmOrMemory(m), .immediate(selector)])
        case .duplicateLow:
            let m = try modrm()
            return make(.movddup, 16, [.xmm(m.reg), xmmOrMemory(m)], source: 8)
        case .xmmPacked(let pop):
            let m = try modrm()
            return make(.packed(pop), 16, [.xmm(m.reg), xmmOrMemory(m)])
        case .xmmShuffle(let pop):
            let m = try modrm()
            let imm = try immByte()
            return make(.shuffle(pop), 16, [.xmm(m.reg), xmmOrMemory(m), .immediate(imm)])
        case .packedShiftGroup(let xmm):
            let m = try modrm()
            guard m.memory == nil else { throw invalid }
            let pop: PackedOp
            switch (op, m.reg & 7) {
            case (0x71, 2): pop = .psrlw
            case (0x71, 4): pop = .psraw
            case (0x71, 6): pop = .psllw
            case (0x72, 2): pop = .psrld
            case (0x72, 4): pop = .psrad
            case (0x72, 6): pop = .pslld
            case (0x73, 2): pop = .psrlq
            case (0x73, 3): pop = .psrldq
            case (0x73, 6): pop = .psllq
            case (0x73, 7): pop = .pslldq
            default: throw invalid
            }
            let imm = try immByte()
            if !xmm {
                // PSRLDQ/PSLLDQ have no MMX form.
                guard pop != .psrldq && pop != .pslldq else { throw invalid }
                return make(.mmx(.shiftImmediate(pop)), 8, [.mmx(m.rm & 7), .immediate(imm)])
            }
            return make(.packedShiftImmediate(pop), 16, [.xmm(m.rm), .immediate(imm)])
        case .floatArithmetic(let fop, let shape):
            let m = try modrm()
            var operands: [Operand] = [.xmm(m.reg), xmmOrMemory(m)]
            if fop.takesImmediate { operands.append(.immediate(try immByte())) }
            return make(.floatArithmetic(fop, shape), 16, operands, source: shape.memorySize)
        case .convertFloat(let conversion):
            let m = try modrm()
            return make(.convertFloat(conversion), 16, [.xmm(m.reg), xmmOrMemory(m)], source: conversion.memorySize)
        case .convertIntegerToFloat(let double):
            let m = try modrm()
            let s = rexW ? 8 : 4
            return make(.convertIntegerToFloat(double: double), 16, [.xmm(m.reg), rmOperand(m, size: s)], source: s)
        case .convertFloatToInteger(let double, let truncate):
            let m = try modrm()
            let s = rexW ? 8 : 4
            return make(.convertFloatToInteger(double: double, truncate: truncate), s,
                        [.register(m.reg, size: s), xmmOrMemory(m)], source: double ? 8 : 4)
        case .compareScalarFlags(let double, let ordered):
            let m = try modrm()
            return make(.compareScalarFlags(double: double, ordered: ordered), 16, [.xmm(m.reg), xmmOrMemory(m)],
                        source: double ? 8 : 4)
        case .xmmMoveMask(let pop):
            let m = try modrm()
            guard m.memory == nil else { throw invalid }
            return make(.moveMask(pop), 4, [.register(m.reg, size: 4), .xmm(m.rm)])
        case .movdToXMM:
            let m = try modrm()
            let s = rexW ? 8 : 4
            return make(.movdToXMM, s, [.xmm(m.reg), rmOperand(m, size: s)])
        case .movdFromXMM:
            let m = try modrm()
            let s = rexW ? 8 : 4
            return make(.movdFromXMM, s, [rmOperand(m, size: s), .xmm(m.reg)])
        case .movqLoad:
            let m = try modrm()
            return make(.movq, 8, [.xmm(m.reg), xmmOrMemory(m)])
        case .movqStore:
            let m = try modrm()
            return make(.movq, 8, [xmmOrMemory(m), .xmm(m.reg)])
        case .extractWordToGPR:
            let m = try modrm()
            guard m.memory == nil else { throw invalid }
            let imm = try immByte()
            return make(.extractLane, 2, [.register(m.reg, size: 4), .xmm(m.rm), .immediate(imm)])
        case .extractLane(let bytes, let widened):
            let n = widened && rexW ? 8 : bytes
            let m = try modrm()
            let imm = try immByte()
            let destination: Operand = m.memory.map { .memory($0) } ?? .register(m.rm, size: n == 8 ? 8 : 4)
            return make(.extractLane, n, [destination, .xmm(m.reg), .immediate(imm)])
        case .insertLane(let bytes, let widened):
            let n = widened && rexW ? 8 : bytes
            let m = try modrm()
            let imm = try immByte()
            return make(.insertLane, n, [.xmm(m.reg), laneSource(m, bytes: n), .immediate(imm)])
        case .insertps:
            let m = try modrm()
            let imm = try immByte()
            return make(.insertps, 16, [.xmm(m.reg), xmmOrMemory(m), .immediate(imm)], source: 4)
        case .packedExtend(let pop, let source):
            let m = try modrm()
            return make(.packedExtend(pop), 16, [.xmm(m.reg), xmmOrMemory(m)], source: source)
        case .ptest:
            let m = try modrm()
            return make(.ptest, 16, [.xmm(m.reg), xmmOrMemory(m)])
        case .crc32:
            let m = try modrm()
            let source = op == 0xF0 ? 1 : (rexW ? 8 : (prefixes.operandSizeOverride ? 2 : 4))
            let s = rexW ? 8 : 4
            return make(.crc32, s, [.register(m.reg, size: s), rmOperand(m, size: source)], source: source)
        case .stringCompare(let explicit, let index):
            let m = try modrm()
            let imm = try immByte()
            return make(.stringCompare(explicit: explicit, index: index), rexW ? 8 : 4,
                        [.xmm(m.reg), xmmOrMemory(m), .immediate(imm)])

        // MMX.
        case .mmxPacked(let pop):
            let m = try modrm()
            return make(.mmx(.packed(pop)), 8, [.mmx(m.reg & 7), mmOrMemory(m)])
        case .mmxShuffle(let pop):
            let m = try modrm()
            let imm = try immByte()
            return make(.mmx(.shuffle(pop)), 8, [.mmx(m.reg & 7), mmOrMemory(m), .immediate(imm)])
        case .mmxFromGPR:
            let m = try modrm()
            let s = rexW ? 8 : 4
            return make(.mmx(.load), s, [.mmx(m.reg & 7), rmOperand(m, size: s)])
        case .mmxToGPR:
            let m = try modrm()
            let s = rexW ? 8 : 4
            return make(.mmx(.store), s, [rmOperand(m, size: s), .mmx(m.reg & 7)])
        case .mmxLoad:
            let m = try modrm()
            return make(.mmx(.load), 8, [.mmx(m.reg & 7), mmOrMemory(m)])
        case .mmxStore(let registerForm):
            let m = try modrm()
            if let mem = m.memory { return make(.mmx(.store), 8, [.memory(mem), .mmx(m.reg & 7)]) }
            guard registerForm else { throw invalid }
            return make(.mmx(.load), 8, [.mmx(m.rm & 7), .mmx(m.reg & 7)])
        case .mmxMoveMask:
            let m = try modrm()
            guard m.memory == nil else { throw invalid }
            return make(.mmx(.moveMask), 4, [.register(m.reg, size: 4), .mmx(m.rm & 7)])
        case .mmxMaskMove:
            let m = try modrm()
            guard m.memory == nil else { throw invalid }
            return make(.mmx(.maskMove), 8, [.mmx(m.reg & 7), .mmx(m.rm & 7)])
        case .mmxInsertWord:
            let m = try modrm()
            let imm = try immByte()
            return make(.mmx(.insertWord), 8, [.mmx(m.reg & 7), laneSource(m, bytes: 2), .immediate(imm)], source: 2)
        case .mmxExtractWord:
            let m = try modrm()
            guard m.memory == nil else { throw invalid }
            let imm = try immByte()
            return make(.mmx(.extractWord), 4, [.register(m.reg, size: 4), .mmx(m.rm & 7), .immediate(imm)])
        case .emms:
            return make(.mmx(.emms), 8, [])
        case .mmToXMM:
            let m = try modrm()
            guard m.memory == nil else { throw invalid }
            return make(.mmx(.store), 8, [.xmm(m.reg), .mmx(m.rm & 7)])
        case .xmmToMM:
            let m = try modrm()
            guard m.memory == nil else { throw invalid }
            return make(.mmx(.load), 8, [.mmx(m.reg & 7), .xmm(m.rm)])
        case .convertMMToXMM(let conversion):
            let m = try modrm()
            return make(.mmx(.convertToXMM(conversion, fromRegister: m.memory == nil)), 8, [.xmm(m.reg), mmOrMemory(m)])
        case .convertXMMToMM(let conversion, let source):
            let m = try modrm()
            return make(.mmx(.convertFromXMM(conversion)), 8, [.mmx(m.reg & 7), xmmOrMemory(m)], source: source)
        }
    }
}
