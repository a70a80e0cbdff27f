/// The FXSAVE image: the 512-byte, 16-byte-aligned layout of the x87, MXCSR and XMM state that
/// FXSAVE/FXRSTOR use and that Linux puts in a signal frame (`uc_mcontext.fpstate`) on a CPU
/// without XSAVE. One layout, shared by the instructions (`Helpers`) and the signal frame
/// (`EmuLinuxUser`'s `SignalDelivery`).
///
/// Bytes (64-bit form):
///
/// | offset | field |
/// |---|---|
/// | 0 | FCW, the x87 control word |
/// | 2 | FSW, the status word with TOP in bits 11–13 |
/// | 4 | abridged tag: bit *i* set when physical register *i* is not empty; byte 5 reserved |
/// | 6, 8, 16 | FOP, FIP, FDP: written as zero (not tracked; what AMD CPUs store while no x87 exception is pending) |
/// | 24 | MXCSR |
/// | 28 | MXCSR_MASK: the MXCSR bits this CPU implements |
/// | 32 + 16·i | ST(i) in stack order, 80 bits, the 6 bytes after it zero |
/// | 160 + 16·i | XMM*i* |
/// | 416 ..< 512 | reserved and software-available: FXSAVE does not write them |
public enum FXSaveArea {
    /// The size of the area.
    public static let size = 512
    /// Bytes FXSAVE writes (the rest is reserved or available to software).
    public static let writtenSize = 416
    /// The alignment FXSAVE/FXRSTOR require (#GP otherwise).
    public static let alignment: UInt64 = 16
    /// The MXCSR bits this CPU implements: the six exception flags, DAZ, the six masks, RC and
    /// FZ. A value with any other bit set makes LDMXCSR and FXRSTOR raise #GP (and Linux's
    /// rt_sigreturn refuse the frame).
    public static let mxcsrMask: UInt64 = 0xFFFF

    /// Whether `mxcsr` is a value LDMXCSR/FXRSTOR accept (no reserved bit set).
    @inlinable public static func isValidMXCSR(_ mxcsr: UInt64) -> Bool { mxcsr & ~mxcsrMask == 0 }

    /// The first `writtenSize` bytes of the image of the state in `s` (a `CPUState`'s slots).
    public static func image(of s: UnsafeMutablePointer<UInt64>) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: writtenSize)
        func put(_ value: UInt64, at offset: Int, bytes: Int) {
            for k in 0..<bytes { out[offset + k] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(k))) }
        }
        let top = Int(s[StateSlot.fpuTop] & 7)
        put(s[StateSlot.fpuControl], at: 0, bytes: 2)
        put((s[StateSlot.fpuStatus] & ~0x3800) | UInt64(top) << 11, at: 2, bytes: 2)
        put(~s[StateSlot.fpuEmpty] & 0xFF, at: 4, bytes: 1)
        put(s[StateSlot.mxcsr], at: 24, bytes: 4)
        put(mxcsrMask, at: 28, bytes: 4)
        for i in 0..<8 {
            let phys = (top + i) & 7
            put(s[StateSlot.x87Base + 2 * phys], at: 32 + 16 * i, bytes: 8)
            put(s[StateSlot.x87Base + 2 * phys + 1], at: 40 + 16 * i, bytes: 2)
        }
        for x in 0..<16 {
            put(s[StateSlot.xmm(x)], at: 160 + 16 * x, bytes: 8)
            put(s[StateSlot.xmm(x) + 1], at: 168 + 16 * x, bytes: 8)
        }
        return out
    }

    /// Why an image cannot be loaded.
    public enum LoadError: Error, Sendable, Equatable {
        /// The image is shorter than `writtenSize` bytes.
        case truncated
        /// MXCSR has a reserved bit set (the CPU raises #GP; Linux kills with SIGSEGV).
        case reservedMXCSRBits(UInt64)
    }

    /// Loads an image (at least `writtenSize` bytes) into `s`: FCW, FSW and TOP, the tags, the
    /// eight x87 registers, MXCSR and XMM0–15. FOP, FIP, FDP and MXCSR_MASK are ignored.
    /// - Throws: `LoadError`, before changing anything.
    public static func load(_ image: [UInt8], into s: UnsafeMutablePointer<UInt64>) throws(LoadError) {
        guard image.count >= writtenSize else { throw .truncated }
        func get(_ offset: Int, bytes: Int) -> UInt64 {
            (0..<bytes).reduce(0) { $0 | UInt64(image[offset + $1]) << (8 * UInt64($1)) }
        }
        let mxcsr = get(24, bytes: 4)
        guard isValidMXCSR(mxcsr) else { throw .reservedMXCSRBits(mxcsr) }
        let status = get(2, bytes: 2)
        let top = Int((status >> 11) & 7)
        s[StateSlot.fpuControl] = get(0, bytes: 2)
        s[StateSlot.fpuStatus] = status & ~0x3800
        s[StateSlot.fpuTop] = UInt64(top)
        s[StateSlot.fpuEmpty] = ~get(4, bytes: 1) & 0xFF
        s[StateSlot.mxcsr] = mxcsr
        for i in 0..<8 {
            let phys = (top + i) & 7
            s[StateSlot.x87Base + 2 * phys] = get(32 + 16 * i, bytes: 8)
            s[StateSlot.x87Base + 2 * phys + 1] = get(40 + 16 * i, bytes: 2)
        }
        for x in 0..<16 {
            s[StateSlot.xmm(x)] = get(160 + 16 * x, bytes: 8)
            s[StateSlot.xmm(x) + 1] = get(168 + 16 * x, bytes: 8)
        }
    }

    /// Resets what the image holds to its state after FNINIT plus a fresh MXCSR (what Linux
    /// gives a signal return whose `fpstate` is NULL): FCW 0x037F, status and TOP zero, every
    /// register empty, MXCSR 0x1F80, XMM registers zero.
    public static func reset(_ s: UnsafeMutablePointer<UInt64>) {
        s[StateSlot.fpuControl] = 0x037F
        s[StateSlot.fpuStatus] = 0
        s[StateSlot.fpuTop] = 0
        s[StateSlot.fpuEmpty] = 0xFF
        s[StateSlot.mxcsr] = 0x1F80
        for k in 0..<16 { s[StateSlot.x87Base + k] = 0 }
        for x in 0..<16 { s[StateSlot.xmm(x)] = 0; s[StateSlot.xmm(x) + 1] = 0 }
    }
}
