import EmuCore

/// CPUID as a kernel reads it in system mode: the user-mode feature set (`CPUID`) plus the
/// system features this CPU implements, and nothing it does not.
///
/// Vendor GenuineIntel, family 6 model 0 (as in user mode), highest basic leaf 0x16 (Linux reads
/// leaves 0x15/0x16 for the TSC and crystal frequencies only for Intel and only when the highest
/// leaf covers them), highest extended leaf 0x80000008.
///
/// Leaf 1 adds to the user-mode bits: PSE, MSR, PAE, APIC (while the interrupt controller's
/// global enable is on), SEP (SYSENTER/SYSEXIT), MTRR, PGE, PAT, TSC-deadline and the
/// hypervisor bit. Leaf 6: ARAT.
/// Leaf 7: ARCH_CAPABILITIES. 0x80000001: RDTSCP and PDPE1GB (from ``SystemFeatures``) beside
/// SYSCALL, NX and LM. 0x80000007: invariant TSC. 0x80000008: the address widths of
/// ``SystemFeatures``. No LA57, XSAVE, RDRAND, x2APIC, PCID, SMEP, SMAP, MCE or PSE-36.
///
/// As on Intel CPUs, a leaf above the highest basic or extended leaf returns the highest basic
/// leaf's values; the hypervisor range 0x40000000–0x4FFFFFFF reads as zeros (no hypervisor
/// interface).
public struct SystemCPUID: Sendable {
    /// Ways the inputs can be refused (host configuration errors, not guest input).
    public enum ConfigurationError: Error, Equatable, Sendable {
        /// The crystal frequency is zero or does not fit CPUID leaf 0x15's 32-bit field, or
        /// the TSC frequency's ratio to it does not fit 32 bits.
        case crystalFrequency(UInt64)
    }

    /// Address widths and paging features, shared with the page walker.
    public let features: SystemFeatures
    /// TSC frequency in Hz.
    public let tscFrequency: UInt64
    /// The core crystal clock (leaf 0x15 ECX), in Hz: the rate the local APIC timer counts at.
    public let crystalFrequency: UInt64
    /// Leaf 0x15: TSC = crystal × numerator / denominator, in lowest terms.
    public let tscRatio: (numerator: UInt32, denominator: UInt32)

    public static let highestBasicLeaf: UInt32 = 0x16
    public static let highestExtendedLeaf: UInt32 = 0x8000_0008

    /// Leaf 1 EDX: the user-mode bits plus PSE 3, MSR 5, PAE 6, SEP 11, MTRR 12, PGE 13, PAT 16
    /// (APIC 9 is added while the controller is globally enabled).
    public static let leaf1EDX: UInt32 = CPUID.featuresEDX | 1 << 3 | 1 << 5 | 1 << 6 | 1 << 11 | 1 << 12 | 1 << 13 | 1 << 16
    public static let apicBit: UInt32 = 1 << 9
    /// Leaf 1 ECX: the user-mode bits plus TSC-deadline 24 and hypervisor 31.
    public static let leaf1ECX: UInt32 = CPUID.featuresECX | 1 << 24 | 1 << 31

    /// The CPUID of a CPU whose TSC runs at `timestampCounter.frequency` and whose crystal
    /// (and local APIC timer) runs at `crystalFrequency` (default: the TSC frequency).
    /// - Throws: ``ConfigurationError/crystalFrequency(_:)``.
    public init(timestampCounter: TimestampCounterBase, crystalFrequency: UInt64? = nil,
                features: SystemFeatures = SystemFeatures()) throws(ConfigurationError) {
        let tsc = timestampCounter.frequency
        let crystal = crystalFrequency ?? tsc
        guard crystal > 0, crystal <= UInt64(UInt32.max) else { throw .crystalFrequency(crystal) }
        var a = tsc, b = crystal
        while b != 0 { (a, b) = (b, a % b) }
        let numerator = tsc / a, denominator = crystal / a
        guard numerator <= UInt64(UInt32.max), denominator <= UInt64(UInt32.max) else {
            throw .crystalFrequency(crystal)
        }
        self.features = features
        self.tscFrequency = tsc
        self.crystalFrequency = crystal
        self.tscRatio = (UInt32(numerator), UInt32(denominator))
    }

    /// (EAX, EBX, ECX, EDX) for `leaf`/`subleaf`.
    /// - Parameters:
    ///   - apicEnabled: IA32_APIC_BASE's global enable (bit 11); leaf 1 shows APIC only then.
    ///   - apicID: the initial APIC ID (leaf 1 EBX 31:24).
    public func query(leaf: UInt32, subleaf: UInt32, apicEnabled: Bool = true,
                      apicID: UInt8 = 0) -> (eax: UInt32, ebx: UInt32, ecx: UInt32, edx: UInt32) {
        switch leaf {
        case 0:
            return (Self.highestBasicLeaf, CPUID.vendorWord(0), CPUID.vendorWord(2), CPUID.vendorWord(1))
        case 1:
            let ebx = UInt32(apicID) << 24 | 1 << 16 | 8 << 8
            return (0x0000_0600, ebx, Self.leaf1ECX, Self.leaf1EDX | (apicEnabled ? Self.apicBit : 0))
        case 2:
            return (1, 0, 0, 0)  // one iteration, no descriptors
        case 6:
            return (1 << 2, 0, 0, 0)  // ARAT
        case 7:
            return subleaf == 0 ? (0, 0, 0, 1 << 29) : (0, 0, 0, 0)  // EDX 29: IA32_ARCH_CAPABILITIES
        case 0x15:
            return (tscRatio.denominator, tscRatio.numerator, UInt32(crystalFrequency), 0)
        case 0x16:
            let tscMHz = UInt32(min(tscFrequency / 1_000_000, 0xFFFF))
            let crystalMHz = UInt32(min(crystalFrequency / 1_000_000, 0xFFFF))
            return (tscMHz, tscMHz, crystalMHz, 0)
        case 3...Self.highestBasicLeaf:
            return (0, 0, 0, 0)
        case 0x4000_0000...0x4FFF_FFFF:
            return (0, 0, 0, 0)
        case 0x8000_0000:
            return (Self.highestExtendedLeaf, 0, 0, 0)
        case 0x8000_0001:
            let base = CPUID.query(leaf: leaf, subleaf: subleaf)
            let edx = base.3 | 1 << 27 | (features.gigabytePages ? 1 << 26 : 0)  // RDTSCP, PDPE1GB
            return (0, 0, base.2, edx)
        case 0x8000_0002...0x8000_0004:
            return brandString(part: Int(leaf - 0x8000_0002))
        case 0x8000_0007:
            return (0, 0, 0, 1 << 8)  // invariant TSC
        case 0x8000_0008:
            return (UInt32(features.physicalAddressBits) | UInt32(features.linearAddressBits) << 8, 0, 0, 0)
        case 0x8000_0005, 0x8000_0006:
            return (0, 0, 0, 0)
        default:
            return query(leaf: Self.highestBasicLeaf, subleaf: 0, apicEnabled: apicEnabled, apicID: apicID)
        }
    }

    /// The brand string, 48 bytes NUL-padded, in 16-byte parts.
    public static let brand = "Emu TCG x86-64 CPU"

    func brandString(part: Int) -> (UInt32, UInt32, UInt32, UInt32) {
        var bytes = Array(Self.brand.utf8.prefix(47))
        bytes += [UInt8](repeating: 0, count: 48 - bytes.count)
        func word(_ i: Int) -> UInt32 {
            let start = part * 16 + i * 4
            return (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[start + $1]) << (8 * UInt32($1)) }
        }
        return (word(0), word(1), word(2), word(3))
    }
}
