/// The CPUID answers: exactly the features this CPU implements.
///
/// Vendor "GenuineIntel", family 6 model 0, highest basic leaf 1: glibc (2.36) reads leaf 1
/// only for the Intel, AMD and Zhaoxin vendor strings — for any other vendor it sees no
/// features at all, and its dynamic loader then refuses every x86-64 library ("CPU ISA level is
/// lower than required"). Model 0 matches none of glibc's tuning tables, so it takes the
/// generic choices. Leaf 1 advertises FPU (x87), TSC, CX8, CMOV, MMX, FXSR (FXSAVE/FXRSTOR), SSE,
/// SSE2, SSE3, SSSE3, SSE4.1, SSE4.2, CX16 and POPCNT; the extended leaves SYSCALL, NX, LM,
/// LAHF/SAHF in 64-bit mode and LZCNT (ABM). Every one of those has differential or execution
/// tests in EmuTCGTests.
///
/// MMX (`MMX`, differential-tested in `MMXDifferentialTests`, the CVTPI2PS-family conversions
/// included) is also what glibc's x86-64 baseline ISA level, which every Debian library declares
/// it needs, requires. MONITOR, XSAVE/OSXSAVE and AVX
/// are not advertised, so glibc's lazy binding takes `_dl_runtime_resolve_fxsave`.
public enum CPUID {
    public static let vendor: [UInt8] = Array("GenuineIntel".utf8)

    static func vendorWord(_ i: Int) -> UInt32 {
        var w: UInt32 = 0
        for k in 0..<4 { w |= UInt32(vendor[i * 4 + k]) << (8 * UInt32(k)) }
        return w
    }

    /// Leaf 1 EDX bits: FPU (0), TSC (4), CX8 (8), CMOV (15), CLFSH (19), MMX (23), FXSR (24), SSE (25), SSE2 (26).
    public static let featuresEDX: UInt32 = (1 << 0) | (1 << 23) | (1 << 4) | (1 << 8) | (1 << 15) | (1 << 19) | (1 << 24) | (1 << 25) | (1 << 26)
    /// Leaf 1 ECX bits: SSE3 (bit 0), SSSE3 (bit 9), CX16 (bit 13), SSE4.1 (bit 19), SSE4.2 (bit 20),
    /// POPCNT (bit 23).
    public static let featuresECX: UInt32 = (1 << 0) | (1 << 9) | (1 << 13) | (1 << 19) | (1 << 20) | (1 << 23)

    /// (EAX, EBX, ECX, EDX) for `leaf`/`subleaf`.
    public static func query(leaf: UInt32, subleaf: UInt32) -> (UInt32, UInt32, UInt32, UInt32) {
        switch leaf {
        case 0:
            // EBX, EDX, ECX spell the vendor in that order.
            return (1, vendorWord(0), vendorWord(2), vendorWord(1))
        case 1:
            // Family 6, model 0; CLFLUSH line 8 × 8 bytes; one logical processor.
            return (0x0000_0600, 0x0001_0800, featuresECX, featuresEDX)
        case 0x8000_0000:
            return (0x8000_0001, 0, 0, 0)
        case 0x8000_0001:
            // ECX: LAHF/SAHF (bit 0), ABM/LZCNT (bit 5).
            return (0, 0, (1 << 0) | (1 << 5), (1 << 11) | (1 << 20) | (1 << 29))
        default:
            return (0, 0, 0, 0)
        }
    }
}
