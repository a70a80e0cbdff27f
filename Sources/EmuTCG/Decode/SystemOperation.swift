/// A system instruction (`Mnemonic.system`): the privileged architecture a kernel uses and the
/// segment, port and far-transfer instructions around it. Operands are in `Instruction.operands`
/// (general registers, memory, immediates) and `operandSize`; the control, debug or segment
/// register an instruction names is in its case.
public enum SystemOperation: Sendable, Equatable {
    /// MOV r64, CRn / MOV CRn, r64 (0F 20 / 0F 22; CR0, CR2, CR3, CR4, CR8). Operand: the register.
    case moveFromControl(Int), moveToControl(Int)
    /// MOV r64, DRn / MOV DRn, r64 (0F 21 / 0F 23; DR0–DR7). Operand: the register.
    case moveFromDebug(Int), moveToDebug(Int)
    /// LGDT, LIDT, SGDT, SIDT m (0F 01 /2, /3, /0, /1): a 10-byte pseudo-descriptor in 64-bit mode.
    case loadGDT, loadIDT, storeGDT, storeIDT
    /// LLDT, LTR r/m16 (0F 00 /2, /3); SLDT, STR r/m (0F 00 /0, /1: a register at the operand
    /// size, memory at 16 bits).
    case loadLDT, loadTaskRegister, storeLDT, storeTaskRegister
    /// LMSW r/m16 (0F 01 /6); SMSW r/m (0F 01 /4, a register at the operand size, memory at 16 bits).
    case loadMachineStatusWord, storeMachineStatusWord
    /// INVLPG m (0F 01 /7).
    case invalidatePage
    /// SWAPGS (0F 01 F8).
    case swapGS
    /// RDTSCP (0F 01 F9).
    case readTimeStampCounterAndAux
    /// VERR, VERW r/m16 (0F 00 /4, /5).
    case verifyRead, verifyWrite
    /// LAR, LSL r, r/m16 (0F 02, 0F 03).
    case loadAccessRights, loadSegmentLimit
    /// IN AL/AX/EAX, imm8 or DX (E4/E5, EC/ED): operands accumulator, then `.immediate(port)` or DX.
    case portIn
    /// OUT imm8 or DX, AL/AX/EAX (E6/E7, EE/EF): operands port (`.immediate` or DX), accumulator.
    case portOut
    /// INS, OUTS (6C/6D, 6E/6F) at `operandSize` 1, 2 or 4; REP in `Instruction.prefixes`.
    case portInString, portOutString
    /// RDMSR, WRMSR (0F 32, 0F 30).
    case readMSR, writeMSR
    /// CLI, STI (FA, FB).
    case clearInterruptFlag, setInterruptFlag
    /// CLTS (0F 06).
    case clearTaskSwitched
    /// IRET/IRETD/IRETQ (CF) at `operandSize` 2, 4 or 8.
    case interruptReturn
    /// SYSRET (0F 07): `operandSize` 8 (REX.W, to 64-bit code) or 4 (to compatibility mode).
    case systemReturn
    /// INT imm8 (CD). Operand: the vector.
    case softwareInterrupt
    /// JMP/CALL m16:16/32/64 (FF /5, /3): a far pointer in memory whose offset is `operandSize`
    /// bytes, followed by a 16-bit selector.
    case farJump, farCall
    /// RETF (CB, CA imm16) at `operandSize` 2, 4 or 8 (LRETQ). Operand: bytes to release, if any.
    case farReturn
    /// MOV r/m, Sreg (8C): a register at the operand size, memory at 16 bits.
    case moveFromSegment(SegmentRegister)
    /// MOV Sreg, r/m16 (8E; not CS).
    case moveToSegment(SegmentRegister)
    /// PUSH FS/GS, POP FS/GS (0F A0/A8, 0F A1/A9) at the stack operand size.
    case pushSegment(SegmentRegister), popSegment(SegmentRegister)
    /// WBINVD (0F 09), INVD (0F 08).
    case writeBackAndInvalidateCaches, invalidateCaches
}
