#if canImport(Glibc)
import Glibc
#endif

/// Which back end turns IR into something that runs.
public enum ExecutorBackend: String, Sendable, CaseIterable {
    /// Pre-decoded closures: the portable reference.
    case closure
    /// x86-64 machine code in a code buffer; blocks it cannot compile use closures.
    case host

    /// `EMU_TCG_BACKEND` (`closure` or `host`), else `.closure`.
    public static var fromEnvironment: ExecutorBackend {
        guard let raw = getenv("EMU_TCG_BACKEND"), let b = ExecutorBackend(rawValue: String(cString: raw)) else {
            return .closure
        }
        return b
    }
}
