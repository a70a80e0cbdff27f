/// SYSCALL and SYSRET in IA-32e mode (Intel SDM Vol. 2B), as Intel CPUs implement them.
public enum FastSystemCall {
    /// What SYSCALL leaves in the registers it writes.
    public struct SyscallResult: Hashable, Sendable {
        public let rip: UInt64
        public let rflags: UInt64
        /// The return address (the instruction after SYSCALL).
        public let rcx: UInt64
        /// RFLAGS before SYSCALL, RF cleared.
        public let r11: UInt64
    }

    /// SYSCALL: RCX ← next RIP, R11 ← RFLAGS, RFLAGS &= ~(IA32_FMASK | RF), CS and SS flat
    /// 64-bit CPL 0 segments from IA32_STAR[47:32], RIP ← IA32_LSTAR.
    /// - Throws: #UD unless EFER.SCE is set and the CPU is in 64-bit mode.
    public static func syscall(nextRIP: UInt64, rflags: UInt64, state: SystemState) throws(X86Exception) -> SyscallResult {
        guard state.efer & EFER.sce != 0, state.is64BitMode else { throw .invalidOpcode }
        let before = rflags & ~SystemFlags.rf
        let flags = (rflags & ~(state.sfmask | SystemFlags.rf)) | SystemFlags.fixed
        let base = UInt16(truncatingIfNeeded: state.star >> 32)
        state[.cs] = SegmentCache(selector: base & 0xFFFC, base: 0, limit: 0xFFFF_FFFF,
                                  attributes: .make(type: 0xB, dpl: 0, long: true, pageGranular: true))
        state[.ss] = SegmentCache(selector: (base &+ 8) & 0xFFFC, base: 0, limit: 0xFFFF_FFFF,
                                  attributes: .make(type: 3, dpl: 0, defaultBig: true, pageGranular: true))
        state.systemFlags = flags & InterruptDelivery.systemFlagBits
        return SyscallResult(rip: state.lstar, rflags: flags, rcx: nextRIP, r11: before)
    }

    /// SYSRET: RIP ← RCX (ECX without REX.W), RFLAGS ← (R11 & 0x3C7FD7) | 2, CS from
    /// IA32_STAR[63:48] (+16 for 64-bit code) and SS from IA32_STAR[63:48] + 8, both RPL 3.
    /// - Returns: the new RIP and RFLAGS.
    /// - Throws: #UD unless EFER.SCE is set and the CPU is in 64-bit mode; #GP(0) at CPL > 0,
    ///   and for a non-canonical RCX on a return to 64-bit code (Intel CPUs raise it at CPL 0,
    ///   before switching).
    public static func sysret(to64Bit: Bool, rcx: UInt64, r11: UInt64,
                              state: SystemState) throws(X86Exception) -> (rip: UInt64, rflags: UInt64) {
        guard state.efer & EFER.sce != 0, state.is64BitMode else { throw .invalidOpcode }
        try state.requireCPL0()
        if to64Bit && !SystemState.isCanonical(rcx) { throw .generalProtection(0) }
        let base = UInt16(truncatingIfNeeded: state.star >> 48)
        let flags = (r11 & 0x3C_7FD7) | SystemFlags.fixed
        if to64Bit {
            state[.cs] = SegmentCache(selector: (base &+ 16) | 3, base: 0, limit: 0xFFFF_FFFF,
                                      attributes: .make(type: 0xB, dpl: 3, long: true, pageGranular: true))
        } else {
            state[.cs] = SegmentCache(selector: base | 3, base: 0, limit: 0xFFFF_FFFF,
                                      attributes: .make(type: 0xB, dpl: 3, defaultBig: true, pageGranular: true))
        }
        state[.ss] = SegmentCache(selector: (base &+ 8) | 3, base: 0, limit: 0xFFFF_FFFF,
                                  attributes: .make(type: 3, dpl: 3, defaultBig: true, pageGranular: true))
        state.systemFlags = flags & InterruptDelivery.systemFlagBits
        return (to64Bit ? rcx : rcx & 0xFFFF_FFFF, flags)
    }
}
