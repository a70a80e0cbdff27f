/// A temporary of an IR block: a 64-bit value, numbered from 0 within the block.
public struct IRTemp: Hashable, Sendable, CustomStringConvertible {
    /// The temp's number.
    public var index: Int32
    /// Temp number `index`.
    public init(_ index: Int32) { self.index = index }
    public var description: String { "t\(index)" }
}

extension Int {
    /// The temp's number as an index.
    @inlinable init(_ t: IRTemp) { self = Int(t.index) }
}

/// Two-operand IR operations on 64-bit values (wrapping arithmetic; shift counts taken mod 64).
public enum IRBinaryOp: UInt8, Sendable {
    case add, sub, and, or, xor, shl, shr, sar, mul
    /// High 64 bits of the unsigned / signed 128-bit product.
    case mulHighUnsigned, mulHighSigned
    /// Comparisons giving 1 or 0.
    case equal, notEqual, lessUnsigned, lessSigned
}

/// One-operand IR operations on 64-bit values.
public enum IRUnaryOp: UInt8, Sendable {
    case not, neg
    case zeroExtend8, zeroExtend16, zeroExtend32
    case signExtend8, signExtend16, signExtend32
    case byteSwap32, byteSwap64
    case popCount, countTrailingZeros, countLeadingZeros
}

/// Work too large for a handful of IR operations, done by a back-end routine with access to the
/// guest state and memory. A host-code back end calls the same routines.
public enum IRHelper: Sendable, Equatable {
    /// CPUID on EAX/ECX, results into EAX, EBX, ECX, EDX.
    case cpuid
    /// RDTSC into EDX:EAX.
    case rdtsc
    /// DIV/IDIV of RDX:RAX (by size) by args[0]; #DE on zero or overflow.
    case divide(size: Int, signed: Bool)
    /// ROL/ROR/RCL/RCR: args [value, count] → result; sets CF/OF.
    case rotate(Mnemonic, size: Int)
    /// ROL/ROR whose flags no one reads: args [value, count] → result.
    case rotateWithoutFlags(left: Bool, size: Int)
    /// SHLD/SHRD: args [destination, source, count] → result; sets the flags.
    case doubleShift(left: Bool, size: Int)
    /// MOVS/STOS/LODS/CMPS/SCAS with their REP prefix, the whole loop.
    case string(Mnemonic, size: Int, rep: Bool, repne: Bool, addressSize: Int)
    /// POPF: args [value] → RFLAGS (arithmetic flags, DF, AC, ID).
    case popFlags
    /// A packed operation on XMM `destination` with the source in args [low, high].
    case packed(PackedOp, destination: Int)
    /// A packed shift of XMM `destination` by `count`.
    case packedShift(PackedOp, destination: Int, count: Int)
    /// PSHUFD/PSHUFLW/PSHUFHW/SHUFPS into XMM `destination`, source in args [low, high].
    case shuffle(PackedOp, destination: Int, immediate: UInt8)
    /// PMOVMSKB/MOVMSKPS/MOVMSKPD of args [low, high] → result.
    case moveMask(PackedOp)
    /// A floating-point operation on XMM `destination` with the source in args [low, high].
    case floatArithmetic(FloatOp, FloatShape, destination: Int, immediate: UInt8)
    /// CVTSI2SS/SD of args[0] (`sourceSize` bytes, signed) into XMM `destination`.
    case convertIntegerToFloat(double: Bool, destination: Int, sourceSize: Int)
    /// CVT(T)SS2SI/SD2SI of args[0] → result (`size` bytes).
    case convertFloatToInteger(double: Bool, truncate: Bool, size: Int)
    /// A float-format conversion into XMM `destination`, source in args [low, high].
    case convertFloat(FloatConversion, destination: Int)
    /// (U)COMISS/SD of args [destination low, source low]: ZF, PF, CF.
    case compareScalarFlags(double: Bool, ordered: Bool)
    /// An MMX instruction on MM `destination` (see `MMX`): args [source] or, for MASKMOVQ,
    /// [mask, address] → a result for `MMXOperation.producesResult` operations.
    case mmx(MMXOperation, destination: Int, immediate: UInt8)
    /// An x87 instruction (escape opcode, ModRM); args[0] is the memory operand's address when
    /// it has one.
    case x87(opcode: UInt8, modrm: UInt8)
    /// PCMPxSTRx of args [first low, first high, second low, second high]; reads RAX/RDX
    /// (explicit lengths), writes ECX or XMM0 and the flags.
    case stringCompare(explicit: Bool, index: Bool, immediate: UInt8, size: Int)
    /// CRC32C of args [crc, value] over `bytes` bytes → result.
    case crc32(bytes: Int)
    /// PTEST of args [dst low, dst high, src low, src high]: ZF, CF.
    case packedTest
    /// CMPXCHG16B at args[0] (RDX:RAX vs memory; RCX:RBX stored on equality; ZF), atomic on
    /// the host memory.
    case compareExchange16
    /// LDMXCSR of args[0]: #GP when a reserved bit is set.
    case loadMXCSR
    /// FXSAVE to args[0] (`FXSaveArea`): #GP unless 16-byte aligned.
    case fxsave
    /// FXRSTOR from args[0]: #GP unless 16-byte aligned or when MXCSR has reserved bits.
    case fxrstor
    /// An atomic read-modify-write of `size` bytes at args[0] with args[1] as the operand (and
    /// args[1] the expected value, args[2] the new one, for compare-exchange) → the old value.
    /// Faults like a store before touching memory.
    case atomic(AtomicOperation, size: Int)
    /// MFENCE/LFENCE/SFENCE: a full host memory fence.
    case fence
}

/// How a block ends.
public enum IRExit: Sendable, Equatable {
    /// Continue at a constant guest address.
    case jump(UInt64)
    /// Continue at `taken` when the temp is non-zero, else at `notTaken`.
    case branch(IRTemp, taken: UInt64, notTaken: UInt64)
    /// Continue at the address in the temp.
    case indirect(IRTemp)
    /// A SYSCALL instruction at `at`; the runtime handles it and continues at `next`.
    case syscall(at: UInt64, next: UInt64)
    /// The guest takes this exception with the state before the instruction at its address.
    case exception(GuestException)
}

/// One IR operation. Guest state is addressed by `StateSlot` numbers; memory operations carry
/// the guest PC of their instruction so that a fault reports it exactly.
public enum IROp: Sendable, Equatable {
    case constant(IRTemp, UInt64)
    /// temp = state slot.
    case get(IRTemp, slot: Int)
    /// temp = the low `size` bytes (1, 2 or 4) of a state slot, zero-extended.
    case getZeroExtended(IRTemp, slot: Int, size: Int)
    /// state slot = temp.
    case put(slot: Int, IRTemp)
    /// state slot = the low 32 bits of temp, zero-extended (a 32-bit register write).
    case putZeroExtended32(slot: Int, IRTemp)
    /// temp = zero-extended `size`-byte load from the guest address in `address`.
    case load(IRTemp, address: IRTemp, size: Int, pc: UInt64)
    /// `size`-byte store of the low bytes of `value`.
    case store(address: IRTemp, value: IRTemp, size: Int, pc: UInt64)
    /// #GP (SIGSEGV for the guest) unless the address is a multiple of `alignment`.
    case checkAlignment(address: IRTemp, alignment: UInt64, pc: UInt64)
    case binary(IRBinaryOp, IRTemp, IRTemp, IRTemp)
    /// temp = a op immediate.
    case binaryImmediate(IRBinaryOp, IRTemp, IRTemp, UInt64)
    case unary(IRUnaryOp, IRTemp, IRTemp)
    /// temp = condition != 0 ? a : b.
    case select(IRTemp, condition: IRTemp, IRTemp, IRTemp)
    /// Records the lazy condition codes: (op, size) and dst, src, src2.
    case setFlags(ConditionCodeOp, size: Int, dst: IRTemp, src: IRTemp, src2: IRTemp)
    /// Like `setFlags` but only when `when` is non-zero (shifts by zero leave the flags).
    case setFlagsIf(when: IRTemp, ConditionCodeOp, size: Int, dst: IRTemp, src: IRTemp, src2: IRTemp)
    /// temp = the arithmetic flags (CF PF AF ZF SF OF in their RFLAGS positions).
    case flags(IRTemp)
    /// temp = 1 when x86 condition code `cc` holds, else 0.
    case condition(IRTemp, cc: UInt8)
    /// A helper routine; `pc` is the guest instruction's address (for faults).
    case helper(IRHelper, args: [IRTemp], result: IRTemp?, pc: UInt64)
}

/// Exceptions a guest instruction can raise; each carries the exact guest PC of the instruction.
public enum GuestException: Error, Sendable, Equatable {
    /// #UD: undefined or unimplemented instruction.
    case invalidOpcode(pc: UInt64)
    /// #PF: `address` not mapped for this access.
    case pageFault(pc: UInt64, address: UInt64, write: Bool)
    /// #GP: misaligned SSE operand, privileged instruction, non-canonical address.
    case generalProtection(pc: UInt64)
    /// #DE: division by zero or quotient overflow.
    case divideError(pc: UInt64)
    /// #BP: INT3 (the PC is the address after it, as on hardware).
    case breakpoint(pc: UInt64)
    /// #XM: an SSE floating-point exception unmasked in MXCSR; `exceptions` holds the raised
    /// unmasked flags (MXCSR bits 0–5). The destination was not written.
    case simdFloatingPoint(pc: UInt64, exceptions: UInt64)
    /// Not a guest exception: a REP string instruction stopped at an iteration boundary because a
    /// stop was requested; RCX, RSI, RDI describe the rest and executing it again resumes it.
    /// `Executor.run` turns it into `.stopRequested`, so it never reaches its callers.
    case interrupted(pc: UInt64)

    /// The guest PC reported with the exception.
    public var pc: UInt64 {
        switch self {
        case .invalidOpcode(let pc), .generalProtection(let pc), .divideError(let pc), .breakpoint(let pc),
             .interrupted(let pc):
            return pc
        case .pageFault(let pc, _, _), .simdFloatingPoint(let pc, _):
            return pc
        }
    }
}
