import EmuTCG

/// How a system call argument is passed and printed.
public enum SyscallArgument: Sendable, Equatable {
    /// A plain integer (printed in decimal).
    case int
    /// Flags or an address-like value (printed in hex).
    case hex
    /// A file descriptor.
    case fd
    /// A NUL-terminated path read from guest memory (at most 4 KiB).
    case path
    /// A guest buffer the kernel reads, its length in argument `length`.
    case inBuffer(length: Int)
    /// A guest buffer the kernel writes, its length in argument `length`.
    case outBuffer(length: Int)
    /// A fixed-size guest structure the kernel reads.
    case inStruct(Int)
    /// A fixed-size guest structure the kernel writes.
    case outStruct(Int)
    /// A fixed-size guest structure the kernel reads and writes.
    case inOutStruct(Int)
    /// A guest pointer passed through untranslated by custom handlers (printed in hex).
    case pointer
}

/// A system call implementation: a host pass-through with guest pointers translated, or a
/// custom routine.
public enum SyscallImplementation: Sendable {
    /// Calls the host system call of the same number with every pointer argument checked and
    /// translated to a host pointer.
    case passThrough
    /// A routine of the emulator; returns the guest's RAX (a negative errno on failure).
    case custom(@Sendable (GuestThread, SyscallArgs) -> Int64)
}

/// The six argument registers of one guest system call.
public struct SyscallArgs: Sendable {
    public var values: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
    /// Argument `i` (0 … 5).
    public subscript(_ i: Int) -> UInt64 {
        switch i {
        case 0: return values.0
        case 1: return values.1
        case 2: return values.2
        case 3: return values.3
        case 4: return values.4
        default: return values.5
        }
    }
}

/// One row of the system call table: number, name, whether the call can block (such calls will
/// go through the safe-syscall path that closes the signal race of seed 001), argument kinds
/// (for translation and for `--strace`), and the implementation.
public struct SyscallEntry: Sendable {
    public let number: Int
    public let name: String
    public let canBlock: Bool
    public let arguments: [SyscallArgument]
    public let implementation: SyscallImplementation

    /// A table row.
    public init(_ number: Int, _ name: String, blocks: Bool = false, _ arguments: [SyscallArgument],
                _ implementation: SyscallImplementation = .passThrough) {
        self.number = number
        self.name = name
        canBlock = blocks
        self.arguments = arguments
        self.implementation = implementation
    }
}

/// Linux errno values the emulator returns itself.
public enum LinuxErrno {
    public static let EPERM: Int64 = 1
    public static let ENOENT: Int64 = 2
    public static let ESRCH: Int64 = 3
    public static let EINTR: Int64 = 4
    public static let EBADF: Int64 = 9
    public static let ECHILD: Int64 = 10
    public static let EAGAIN: Int64 = 11
    public static let ENOMEM: Int64 = 12
    public static let EACCES: Int64 = 13
    public static let EFAULT: Int64 = 14
    public static let EEXIST: Int64 = 17
    public static let ENOTDIR: Int64 = 20
    public static let EINVAL: Int64 = 22
    public static let ENOTTY: Int64 = 25
    public static let ERANGE: Int64 = 34
    public static let ENOSYS: Int64 = 38
}
