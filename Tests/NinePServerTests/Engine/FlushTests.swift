import Testing
@testable import NinePServer

/// Seeds 000 and 003: what Tflush must put on the wire.
@Suite("Tflush")
struct FlushTests {
    @Test func flushOfAnUnknownTagOrOfItselfIsAnsweredAtOnce() async {
        let h = SessionHarness()
        await h.connect()
        h.send(10, .flush(oldTag: 999))
        h.send(11, .flush(oldTag: 11))
        await h.waitForEvents(2)
        #expect(h.take() == [.reply(10, .flush), .reply(11, .flush)])
        #expect(await h.waitIdle().requestsInFlight == 0)
    }

    @Test func cancelledRequestGetsNoReplyAndTheRflushFollows() async {
        let h = SessionHarness()
        _ = await h.startBlockedRead(honoursCancellation: true)
        h.send(21, .flush(oldTag: 20))
        await h.waitForEvents(2)
        #expect(h.take() == [.noReply(20), .reply(21, .flush)],
                "no Rlerror EINTR for the cancelled read, and the Rflush after it")
        #expect(!h.backend.log.withLock { $0 }.contains("read slow"), "the read never happened")
        let idle = await h.waitIdle()
        #expect(idle.requestsInFlight == 0 && idle.tasks == 0)
    }

    @Test func requestThatCompletesAnywayIsAnsweredBeforeTheRflush() async {
        let h = SessionHarness()
        let gate = await h.startBlockedRead(honoursCancellation: false)
        h.send(21, .flush(oldTag: 20))
        try? await Task.sleep(for: .milliseconds(20))
        #expect(h.events.isEmpty, "the Rflush waits for the request")
        gate.open()
        await h.waitForEvents(2)
        #expect(h.take() == [.reply(20, .read(data: Array("slow".utf8))), .reply(21, .flush)])
    }

    @Test func severalFlushesOfOneRequestAreAllAnsweredInOrderAfterIt() async {
        let h = SessionHarness()
        let gate = await h.startBlockedRead(honoursCancellation: false)
        for tag in [33, 31, 32] as [UInt16] { h.send(tag, .flush(oldTag: 20)) }
        try? await Task.sleep(for: .milliseconds(20))
        #expect(h.events.isEmpty)
        gate.open()
        await h.waitForEvents(4)
        #expect(h.take() == [.reply(20, .read(data: Array("slow".utf8))),
                             .reply(33, .flush), .reply(31, .flush), .reply(32, .flush)])
        #expect(await h.waitIdle().requestsInFlight == 0)
    }

    @Test func flushOfAPendingFlushIsAnsweredAfterIt() async {
        let h = SessionHarness()
        _ = await h.startBlockedRead(honoursCancellation: true)
        h.send(40, .flush(oldTag: 20))  // a plain cancel first
        await h.waitForEvents(2)
        #expect(h.take() == [.noReply(20), .reply(40, .flush)])

        // A request that ignores cancellation keeps every flush below pending: a deterministic chain.
        let stubborn = h.backend.gate("slow", honoursCancellation: false)
        h.send(50, .read(fid: 5, offset: 0, count: 100))
        await h.waitForArrivals(stubborn)
        h.send(51, .flush(oldTag: 50))
        h.send(52, .flush(oldTag: 51))  // a flush of a pending flush
        h.send(53, .flush(oldTag: 52))  // and of that one
        h.send(54, .flush(oldTag: 50))  // a second flush of the request itself
        try? await Task.sleep(for: .milliseconds(20))
        #expect(h.events.isEmpty, "nothing is answered while the request runs")
        stubborn.open()
        await h.waitForEvents(5)
        let events = h.take()
        #expect(events.first == .reply(50, .read(data: Array("slow".utf8))))
        let order = events.compactMap { event -> UInt16? in
            if case let .reply(tag, .flush) = event { return tag } else { return nil }
        }
        #expect(Set(order) == [51, 52, 53, 54])
        func position(_ tag: UInt16) -> Int { order.firstIndex(of: tag) ?? -1 }
        #expect(position(51) < position(52) && position(52) < position(53), "each after the flush it names")
        #expect(position(51) < position(54), "flushes of one request in the order received")
        let idle = await h.waitIdle()
        #expect(idle.requestsInFlight == 0 && idle.tasks == 0)
    }

    @Test func cancelledWalkBindsNoFidAndAnsweredWalkDoes() async {
        let h = SessionHarness()
        await h.connect()
        let gate = h.backend.gate("slow", honoursCancellation: true)
        h.send(20, .walk(fid: 0, newFid: 7, names: ["slow"]))
        await h.waitForArrivals(gate)
        h.send(21, .flush(oldTag: 20))
        await h.waitForEvents(2)
        #expect(h.take() == [.noReply(20), .reply(21, .flush)])
        h.send(22, .getattr(fid: 7, requestMask: Attributes.maskBasic))
        await h.waitForEvents(1)
        #expect(h.take() == [.reply(22, .lerror(errno: UInt32(NinePError.badFid.errno)))], "fid 7 was not bound")

        let late = h.backend.gate("slow", honoursCancellation: false)
        h.send(30, .walk(fid: 0, newFid: 8, names: ["slow"]))
        await h.waitForArrivals(late)
        h.send(31, .flush(oldTag: 30))
        late.open()
        await h.waitForEvents(2)
        let events = h.take()
        #expect(events.count == 2)
        if case .reply(30, .walk(let qids)) = events.first { #expect(qids.count == 1) } else {
            Issue.record("expected the walk's reply first, got \(events)")
        }
        #expect(events.last == .reply(31, .flush))
        #expect(h.session.statistics.fids == 2, "fid 8 was bound by the answered walk")
    }

    @Test func cancelledCreateAndAttachBindNothing() async {
        let h = SessionHarness()
        await h.connect()
        let create = h.backend.gate("new", honoursCancellation: true)
        h.send(2, .walk(fid: 0, newFid: 3, names: []))
        await h.waitForEvents(1)
        _ = h.take()
        h.send(20, .lcreate(fid: 3, name: "new", flags: 2, mode: 0o644, gid: 0))
        await h.waitForArrivals(create)
        h.send(21, .flush(oldTag: 20))
        await h.waitForEvents(2)
        #expect(h.take() == [.noReply(20), .reply(21, .flush)])
        #expect(h.backend.openFiles.load(ordering: .relaxed) == 0, "no file was opened")

        let attach = h.backend.gate("attach:slow", honoursCancellation: true)
        h.send(30, .attach(fid: 9, afid: NineP.noFid, uname: "u", aname: "slow", nUname: 0))
        await h.waitForArrivals(attach)
        h.send(31, .flush(oldTag: 30))
        await h.waitForEvents(2)
        #expect(h.take() == [.noReply(30), .reply(31, .flush)])
        #expect(h.session.statistics.fids == 2, "fids 0 and 3 only")
    }
}
