import Foundation
import Testing
@testable import EmuTCG

/// The statistics an executor reports and the perf map's lines.
@Suite struct ObservabilityTests {
    @Test func anExecutorsCountsFollowWhatItRan() throws {
        let (code, setUp) = IndirectLookupTests.program(iterations: 200)
        let (h, _) = try HostBackendTests.run(code, IndirectLookupTests.registers(), flags: 0x202, backend: .host, setUp: setUp)
        let c = h.executor.counts
        #expect(c.blocksTranslated == UInt64(h.executor.translatedBlocks))
        #expect(c.hostBlocks == c.blocksTranslated)
        #expect(c.chainLinks >= 2)
        #expect(c.indirectHits == h.executor.indirectLookupHits)
        #expect(c.indirectHits + c.indirectMisses >= 600, "a call, a return and a jump per iteration")
        #expect(c.helperCalls >= 200, "ROL with flags is a closure step, once per call")
        let text = ExecutorStatistics.report(c)
        #expect(text.contains("blocks translated    \(c.blocksTranslated)"))
        #expect(text.contains("indirect lookups     \(c.indirectHits) hit, \(c.indirectMisses) miss"))
        let zero = c - c
        #expect(zero == ExecutorStatistics.Counts())
    }

    @Test func thePerfMapGetsALinePerBlock() throws {
        let path = "/tmp/perf-\(getpid()).map"
        let existed = FileManager.default.fileExists(atPath: path)
        defer { if !existed { try? FileManager.default.removeItem(atPath: path) } }
        PerfMap.record(start: 0x7F00_1234_5670, size: 0x9A, guestPC: 0x4_0123_4567)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasSuffix("7f0012345670 9a guest_0x401234567\n"))
    }
}
