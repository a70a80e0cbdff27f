import EmuTCG

/// Linux signal numbers used by the emulator (x86-64 numbering).
public enum GuestSignal {
    public static let SIGILL: Int32 = 4
    public static let SIGTRAP: Int32 = 5
    public static let SIGABRT: Int32 = 6
    public static let SIGBUS: Int32 = 7
    public static let SIGFPE: Int32 = 8
    public static let SIGKILL: Int32 = 9
    public static let SIGSEGV: Int32 = 11
    public static let SIGPIPE: Int32 = 13
    /// Highest signal number.
    public static let count = 64

    /// The signal a guest exception becomes.
    public static func forException(_ e: GuestException) -> Int32 {
        switch e {
        case .invalidOpcode: return SIGILL
        case .pageFault, .generalProtection: return SIGSEGV
        case .divideError, .simdFloatingPoint: return SIGFPE
        case .breakpoint: return SIGTRAP
        case .interrupted: return SIGTRAP // never raised: Executor.run reports it as a stop
        }
    }
}

/// A guest's `struct sigaction` as recorded by `rt_sigaction` (delivery lands with seed 001).
public struct GuestSignalAction: Sendable, Equatable {
    /// SIG_DFL (0), SIG_IGN (1) or the handler's guest address.
    public var handler: UInt64 = 0
    public var flags: UInt64 = 0
    public var restorer: UInt64 = 0
    public var mask: UInt64 = 0
}
