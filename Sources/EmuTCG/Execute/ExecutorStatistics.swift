import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Counters summed over every executor of the process, printed to standard error when the
/// process exits (through `exit`, as emu-user ends) if `EMU_TCG_STATS=1` was set at start.
///
/// Each executor adds what it counted since its last report when `Executor.run` returns (every
/// SYSCALL, exception or stop), so the dump covers every run that returned; a thread still
/// inside guest code when another thread ends the process adds nothing for its current run. A
/// forked child (a guest fork) starts from its parent's totals at the fork and prints its own.
///
/// `Sendable`: every counter is atomic.
final class ExecutorStatistics: Sendable {
    /// One executor's counts at a point in time (or a difference of two).
    struct Counts: Equatable {
        var blocksTranslated: UInt64 = 0
        var hostBlocks: UInt64 = 0
        var codeBufferFlushes: UInt64 = 0
        var chainLinks: UInt64 = 0
        var indirectHits: UInt64 = 0
        var indirectMisses: UInt64 = 0
        var helperCalls: UInt64 = 0
        var slowMemoryCalls: UInt64 = 0

        static func - (a: Counts, b: Counts) -> Counts {
            Counts(blocksTranslated: a.blocksTranslated &- b.blocksTranslated, hostBlocks: a.hostBlocks &- b.hostBlocks,
                   codeBufferFlushes: a.codeBufferFlushes &- b.codeBufferFlushes, chainLinks: a.chainLinks &- b.chainLinks,
                   indirectHits: a.indirectHits &- b.indirectHits, indirectMisses: a.indirectMisses &- b.indirectMisses,
                   helperCalls: a.helperCalls &- b.helperCalls, slowMemoryCalls: a.slowMemoryCalls &- b.slowMemoryCalls)
        }
    }

    /// The process's totals.
    static let shared = ExecutorStatistics()

    /// Whether `EMU_TCG_STATS=1`; the first read registers the dump at exit.
    static let enabled: Bool = {
        guard let raw = getenv("EMU_TCG_STATS"), String(cString: raw) == "1" else { return false }
        atexit { ExecutorStatistics.shared.dump() }
        return true
    }()

    private let blocksTranslated = Atomic<UInt64>(0)
    private let hostBlocks = Atomic<UInt64>(0)
    private let codeBufferFlushes = Atomic<UInt64>(0)
    private let chainLinks = Atomic<UInt64>(0)
    private let indirectHits = Atomic<UInt64>(0)
    private let indirectMisses = Atomic<UInt64>(0)
    private let helperCalls = Atomic<UInt64>(0)
    private let slowMemoryCalls = Atomic<UInt64>(0)

    /// Adds one executor's counts.
    func add(_ c: Counts) {
        blocksTranslated.wrappingAdd(c.blocksTranslated, ordering: .relaxed)
        hostBlocks.wrappingAdd(c.hostBlocks, ordering: .relaxed)
        codeBufferFlushes.wrappingAdd(c.codeBufferFlushes, ordering: .relaxed)
        chainLinks.wrappingAdd(c.chainLinks, ordering: .relaxed)
        indirectHits.wrappingAdd(c.indirectHits, ordering: .relaxed)
        indirectMisses.wrappingAdd(c.indirectMisses, ordering: .relaxed)
        helperCalls.wrappingAdd(c.helperCalls, ordering: .relaxed)
        slowMemoryCalls.wrappingAdd(c.slowMemoryCalls, ordering: .relaxed)
    }

    /// The totals so far.
    var totals: Counts {
        Counts(blocksTranslated: blocksTranslated.load(ordering: .relaxed), hostBlocks: hostBlocks.load(ordering: .relaxed),
               codeBufferFlushes: codeBufferFlushes.load(ordering: .relaxed), chainLinks: chainLinks.load(ordering: .relaxed),
               indirectHits: indirectHits.load(ordering: .relaxed), indirectMisses: indirectMisses.load(ordering: .relaxed),
               helperCalls: helperCalls.load(ordering: .relaxed), slowMemoryCalls: slowMemoryCalls.load(ordering: .relaxed))
    }

    /// The totals as the lines printed at exit.
    static func report(_ t: Counts) -> String {
        let lookups = t.indirectHits &+ t.indirectMisses
        let rate = lookups == 0 ? 0 : Double(t.indirectHits) * 100 / Double(lookups)
        return """
        emu-tcg stats (pid \(getpid())):
          blocks translated    \(t.blocksTranslated) (host code \(t.hostBlocks))
          code-cache flushes   \(t.codeBufferFlushes)
          chain links          \(t.chainLinks)
          indirect lookups     \(t.indirectHits) hit, \(t.indirectMisses) miss (\(Int(rate.rounded()))% hit)
          helper calls         \(t.helperCalls) (closure steps from host code)
          slow memory calls    \(t.slowMemoryCalls)

        """
    }

    private func dump() {
        let text = Self.report(totals)
        _ = text.withCString { write(STDERR_FILENO, $0, strlen($0)) }
    }
}
