import EmuTCG

/// Builds the process's initial stack as the Linux kernel lays it out for x86-64:
/// argc, argv[], NULL, envp[], NULL, auxv pairs ending in AT_NULL, then the strings and the
/// 16 random bytes above them. RSP ends 16-byte aligned, pointing at argc.
public enum InitialStack {
    public static let AT_NULL: UInt64 = 0, AT_PHDR: UInt64 = 3, AT_PHENT: UInt64 = 4, AT_PHNUM: UInt64 = 5
    public static let AT_PAGESZ: UInt64 = 6, AT_BASE: UInt64 = 7, AT_FLAGS: UInt64 = 8, AT_ENTRY: UInt64 = 9
    public static let AT_UID: UInt64 = 11, AT_EUID: UInt64 = 12, AT_GID: UInt64 = 13, AT_EGID: UInt64 = 14
    public static let AT_PLATFORM: UInt64 = 15, AT_HWCAP: UInt64 = 16, AT_CLKTCK: UInt64 = 17
    public static let AT_SECURE: UInt64 = 23, AT_RANDOM: UInt64 = 25, AT_HWCAP2: UInt64 = 26, AT_EXECFN: UInt64 = 31
    public static let AT_MINSIGSTKSZ: UInt64 = 51

    /// Writes the stack below `top` and returns the initial RSP. `program` gives AT_PHDR,
    /// AT_PHNUM and AT_ENTRY; `interpreterBase` is AT_BASE (0 for a static program). There is
    /// no AT_SYSINFO_EHDR (no vDSO: glibc then makes real system calls for the time).
    /// - Throws: `LoaderError.noRoom` when it does not fit in `limit` bytes below `top`.
    public static func build(memory: GuestAddressSpace, top: UInt64, limit: UInt64, arguments: [String],
                             environment: [String], executableName: String, program: LoadedProgram,
                             interpreterBase: UInt64 = 0, ids: (uid: UInt64, euid: UInt64, gid: UInt64, egid: UInt64),
                             random: [UInt8]) throws(LoaderError) -> UInt64 {
        var sp = top
        let floor = top - limit
        func push(bytes: [UInt8]) throws(LoaderError) -> UInt64 {
            guard sp - floor >= UInt64(bytes.count) + 64 else { throw .noRoom("initial stack") }
            sp -= UInt64(bytes.count)
            guard memory.poke(sp, bytes) else { throw .noRoom("initial stack") }
            return sp
        }
        func string(_ s: String) throws(LoaderError) -> UInt64 { try push(bytes: Array(s.utf8) + [0]) }

        let execfn = try string(executableName)
        let envPointers = try environment.reversed().map { (s) throws(LoaderError) -> UInt64 in try string(s) }.reversed()
        let argPointers = try arguments.reversed().map { (s) throws(LoaderError) -> UInt64 in try string(s) }.reversed()
        let platform = try string("x86_64")
        let randomAddress = try push(bytes: random.count == 16 ? random : [UInt8](repeating: 0x5A, count: 16))
        sp &= ~15

        let auxv: [(UInt64, UInt64)] = [
            (AT_PHDR, program.programHeaders), (AT_PHENT, 56), (AT_PHNUM, UInt64(program.programHeaderCount)),
            (AT_PAGESZ, 4096), (AT_BASE, interpreterBase), (AT_FLAGS, 0), (AT_ENTRY, program.entry),
            (AT_UID, ids.uid), (AT_EUID, ids.euid), (AT_GID, ids.gid), (AT_EGID, ids.egid),
            (AT_PLATFORM, platform), (AT_HWCAP, UInt64(CPUID.featuresEDX)), (AT_CLKTCK, 100),
            (AT_SECURE, 0), (AT_RANDOM, randomAddress), (AT_HWCAP2, 0), (AT_EXECFN, execfn),
            (AT_MINSIGSTKSZ, SignalDelivery.minimumStackSize), (AT_NULL, 0),
        ]
        var words: [UInt64] = [UInt64(argPointers.count)]
        words += argPointers
        words.append(0)
        words += envPointers
        words.append(0)
        for (k, v) in auxv { words.append(k); words.append(v) }
        if words.count % 2 == 1 { words.append(0) } // keep RSP 16-byte aligned at argc
        var bytes: [UInt8] = []
        bytes.reserveCapacity(words.count * 8)
        for w in words { for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: w >> (8 * UInt64(i)))) } }
        return try push(bytes: bytes)
    }
}
