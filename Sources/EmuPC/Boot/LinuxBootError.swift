import EmuCore

/// Why a Linux kernel cannot be booted. Every problem with the kernel file, the initrd, the
/// command line or the memory map is reported before the guest starts.
public enum LinuxBootError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file is not a bzImage (why: no boot signature, no "HdrS", a zImage, ...).
    case notBzImage(String)
    /// The boot protocol version is older than 2.12 (the first with the 64-bit entry flag).
    case protocolTooOld(version: UInt16)
    /// The kernel has no 64-bit entry point (XLF_KERNEL_64 clear).
    case no64BitEntry
    /// The file ends before a part the header points to (which part).
    case truncated(String)
    /// The payload is not compressed with xz (the format found).
    case unsupportedCompression(String)
    /// The xz payload cannot be decompressed (liblzma's verdict).
    case corruptPayload(String)
    /// The decompressed kernel is not a usable x86-64 ELF executable (why).
    case invalidELF(String)
    /// A part of the kernel would lie outside usable RAM.
    case segmentOutsideRAM(address: UInt64, size: UInt64)
    /// The kernel needs `required` bytes from `address`, beyond usable low RAM.
    case kernelDoesNotFit(address: UInt64, required: UInt64)
    /// The initrd does not fit between the kernel and the lower of the kernel's limit and the
    /// end of usable low RAM.
    case initrdDoesNotFit(size: UInt64, room: UInt64)
    /// The command line is longer than the kernel accepts.
    case commandLineTooLong(length: Int, limit: Int)
    /// The command line contains a NUL character.
    case commandLineHasNUL
    /// The memory map cannot hold a Linux guest (why).
    case invalidMemoryMap(String)
    /// Guest memory refused a write (the map does not match the machine's RAM).
    case memory(GuestMemoryError)
    /// The ACPI tables could not be built.
    case acpi(ACPIConfigurationError)
    /// A host file could not be read.
    case file(path: String, SystemCallError)

    public var description: String {
        switch self {
        case .notBzImage(let why): "not a bzImage: \(why)"
        case .protocolTooOld(let v):
            "boot protocol \(v >> 8).\(v & 0xFF) is too old (2.12 or later is needed for the 64-bit entry)"
        case .no64BitEntry: "the kernel has no 64-bit entry point (XLF_KERNEL_64 is not set)"
        case .truncated(let what): "the kernel file is truncated: \(what)"
        case .unsupportedCompression(let what): "the kernel payload is \(what), not xz"
        case .corruptPayload(let why): "the kernel payload is corrupt: \(why)"
        case .invalidELF(let why): "the decompressed kernel is not a usable ELF64 executable: \(why)"
        case .segmentOutsideRAM(let a, let s):
            "a kernel segment of \(s) bytes at 0x\(String(a, radix: 16)) lies outside usable RAM"
        case .kernelDoesNotFit(let a, let r):
            "the kernel needs \(r) bytes from 0x\(String(a, radix: 16)), more than usable low RAM holds"
        case .initrdDoesNotFit(let s, let room): "the initrd of \(s) bytes does not fit (room: \(room) bytes)"
        case .commandLineTooLong(let l, let limit): "the command line has \(l) bytes; the kernel accepts \(limit)"
        case .commandLineHasNUL: "the command line contains a NUL character"
        case .invalidMemoryMap(let why): "memory map: \(why)"
        case .memory(let e): "guest memory: \(e)"
        case .acpi(let e): "\(e)"
        case .file(let path, let e): "\(path): \(e)"
        }
    }
}
