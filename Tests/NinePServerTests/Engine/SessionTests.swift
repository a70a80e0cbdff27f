import Testing
@testable import NinePServer

@Suite("9P session")
struct SessionTests {
    @Test func requestsBeforeVersionAreRefusedAndVersionNegotiatesMsize() async {
        let h = SessionHarness(msize: 32768)
        h.send(1, .getattr(fid: 0, requestMask: 0))
        h.send(NineP.noTag, .version(msize: 1 << 20, version: "9P2000.L"))
        h.send(NineP.noTag, .version(msize: 8192, version: "9P2000.u"))
        await h.waitForEvents(3)
        let events = h.take()
        #expect(events[0] == .reply(1, .lerror(errno: UInt32(NinePError.invalid.errno))))
        #expect(events[1] == .reply(NineP.noTag, .version(msize: 32768, version: "9P2000.L")))
        #expect(events[2] == .reply(NineP.noTag, .version(msize: 8192, version: "unknown")))
        #expect(h.session.msize == 0, "an unknown version leaves no session")
    }

    @Test func walkFromAnOpenFidMakesAnUnopenedFidButNotInPlace() async {
        let h = SessionHarness()
        await h.connect()
        await h.open("a", as: 5)
        h.send(20, .walk(fid: 5, newFid: 6, names: []))
        h.send(21, .walk(fid: 5, newFid: 5, names: []))
        await h.waitForEvents(2)
        let events = h.take()
        #expect(events.contains(.reply(20, .walk(qids: []))))
        #expect(events.contains(.reply(21, .lerror(errno: UInt32(NinePError.badFid.errno)))))
        h.send(22, .read(fid: 6, offset: 0, count: 10))
        await h.waitForEvents(1)
        #expect(h.take() == [.reply(22, .lerror(errno: UInt32(NinePError.badFid.errno)))], "fid 6 is not open")
    }

    @Test func authIsAnsweredNotRequired() async {
        let h = SessionHarness()
        await h.connect()
        h.send(5, .auth(afid: 1, uname: "u", aname: "", nUname: 0))
        await h.waitForEvents(1)
        #expect(h.take() == [.reply(5, .lerror(errno: UInt32(NinePError.notFound.errno)))])
        #expect(h.session.statistics.fids == 1, "no afid is created")
    }

    @Test func aSlowRequestDoesNotHoldUpOthers() async {
        let h = SessionHarness()
        let gate = await h.startBlockedRead(honoursCancellation: true)
        h.send(21, .walk(fid: 0, newFid: 6, names: ["a"]))
        h.send(22, .getattr(fid: 0, requestMask: Attributes.maskBasic))
        await h.waitForEvents(2)
        let tags = h.take().compactMap { if case let .reply(tag, _) = $0 { tag } else { nil } }
        #expect(Set(tags) == [21, 22], "answered while the read still waits")
        gate.open()
        await h.waitForEvents(1)
        #expect(h.take() == [.reply(20, .read(data: Array("slow".utf8)))])
    }

    @Test func clunkDuringAReadClosesTheFileOnlyAfterTheRead() async {
        let h = SessionHarness()
        let gate = await h.startBlockedRead(honoursCancellation: false)
        h.send(21, .clunk(fid: 5))
        await h.waitForEvents(1)
        #expect(h.take() == [.reply(21, .clunk)])
        #expect(!h.backend.log.withLock { $0 }.contains("closed slow"), "still in use by the read")
        gate.open()
        await h.waitForEvents(1)
        _ = await h.waitIdle()
        #expect(h.backend.log.withLock { $0 }.suffix(2) == ["read slow", "closed slow"])
        #expect(h.backend.openFiles.load(ordering: .relaxed) == 0)
    }

    /// A request starts on the thread that passes its frame: one the back end answers without
    /// suspending is answered before `receive` returns (no thread hand-off at all), while one
    /// that waits does not hold `receive` up.
    @Test func aRequestTheBackEndAnswersAtOnceIsAnsweredBeforeReceiveReturns() async {
        let h = SessionHarness()
        await h.connect()
        h.send(30, .getattr(fid: 0, requestMask: Attributes.maskBasic))
        let events = h.take()
        #expect(events.count == 1)
        if case .reply(30, .getattr) = events.first {} else { Issue.record("\(events)") }
        let gate = h.backend.gate("a", honoursCancellation: true)
        h.send(31, .walk(fid: 0, newFid: 1, names: ["a"]))
        #expect(h.take().isEmpty, "the walk waits at its gate; receive returned anyway")
        gate.open()
        await h.waitForEvents(1)
        #expect(h.take().count == 1)
    }

    @Test func tagInUseIsRefusedWithoutDisturbingTheRequestHoldingIt() async {
        let h = SessionHarness()
        let gate = await h.startBlockedRead(honoursCancellation: false)
        h.send(20, .getattr(fid: 0, requestMask: 0))
        await h.waitForEvents(1)
        #expect(h.take() == [.reply(20, .lerror(errno: UInt32(NinePError.invalid.errno)))])
        gate.open()
        await h.waitForEvents(1)
        #expect(h.take() == [.reply(20, .read(data: Array("slow".utf8)))])
    }

    @Test func versionAbandonsOutstandingRequestsAndClunksEveryFid() async {
        let h = SessionHarness()
        let gate = await h.startBlockedRead(honoursCancellation: false)
        h.send(NineP.noTag, .version(msize: 8192, version: "9P2000.L"))
        await h.waitForEvents(2)
        #expect(h.take() == [.noReply(20), .reply(NineP.noTag, .version(msize: 8192, version: "9P2000.L"))])
        #expect(h.session.statistics.fids == 0)
        gate.open()
        let idle = await h.waitIdle()
        #expect(idle == NinePSessionStatistics(requestsInFlight: 0, fids: 0, tasks: 0))
        #expect(h.events.isEmpty, "the abandoned read's late result is not sent")
        #expect(h.backend.openFiles.load(ordering: .relaxed) == 0, "its file was closed")
    }

    @Test func closeCancelsEverythingAndReleasesEveryFid() async {
        let h = SessionHarness()
        await h.connect()
        await h.open("a", as: 4)
        await h.open("slow", as: 5)
        let gate = h.backend.gate("slow", honoursCancellation: true)
        h.send(20, .read(fid: 5, offset: 0, count: 100))
        await h.waitForArrivals(gate)
        await h.session.close()
        #expect(h.session.statistics == NinePSessionStatistics(requestsInFlight: 0, fids: 0, tasks: 0))
        #expect(h.backend.openFiles.load(ordering: .relaxed) == 0)
        h.send(30, .getattr(fid: 0, requestMask: 0))
        #expect(h.events.isEmpty, "a closed session answers nothing")
    }

    @Test func partialWalkAnswersTheResolvedPrefixAndBindsNothing() async {
        let h = SessionHarness()
        await h.connect()
        h.send(20, .walk(fid: 0, newFid: 6, names: ["a", "missing", "b"]))
        h.send(21, .walk(fid: 0, newFid: 7, names: ["missing"]))
        await h.waitForEvents(2)
        let events = h.take()
        #expect(events.contains { if case .reply(20, .walk(let qids)) = $0 { qids.count == 1 } else { false } })
        #expect(events.contains(.reply(21, .lerror(errno: UInt32(NinePError.notFound.errno)))))
        #expect(h.session.statistics.fids == 1)
    }

    @Test func xattrCreateIsCommittedAtClunkWithExactlyItsDeclaredSize() async {
        let h = SessionHarness()
        await h.connect()
        h.send(2, .walk(fid: 0, newFid: 3, names: ["a"]))
        h.send(3, .walk(fid: 0, newFid: 4, names: ["a"]))
        await h.waitForEvents(2)
        h.send(4, .xattrcreate(fid: 3, name: "user.x", attrSize: 2, flags: 0))
        await h.waitForEvents(3)
        h.send(5, .write(fid: 3, offset: 0, data: Array("hi".utf8)))
        await h.waitForEvents(4)
        h.send(6, .write(fid: 3, offset: 2, data: Array("!".utf8)))
        await h.waitForEvents(5)
        h.send(7, .clunk(fid: 3))
        h.send(8, .xattrcreate(fid: 4, name: "user.y", attrSize: 1 << 20, flags: 0))
        await h.waitForEvents(7)
        let events = h.take()
        #expect(events.contains(.reply(6, .lerror(errno: UInt32(NinePError.invalid.errno)))), "beyond the size")
        #expect(events.contains(.reply(7, .clunk)))
        #expect(events.contains(.reply(8, .lerror(errno: 7))), "E2BIG beyond XATTR_SIZE_MAX")
        #expect(h.backend.log.withLock { $0 }.contains("xattr user.x=hi"))
    }

    @Test func malformedFramesAreAnsweredOrEndTheConnection() async {
        let h = SessionHarness()
        await h.connect()
        // A known header with an unknown type (Topen, not in 9P2000.L): answered with Rlerror.
        h.session.receive([7, 0, 0, 0, 112, 9, 0])
        await h.waitForEvents(1)
        #expect(h.take() == [.reply(9, .lerror(errno: 95))])
        // A size field that disagrees with the frame: nothing can be trusted.
        h.session.receive([200, 0, 0, 0, 120, 1, 0, 0, 0, 0, 0])
        await h.waitForEvents(1)
        #expect(h.take() == [.violation])
        #expect(h.session.statistics.fids == 0)
    }
}
