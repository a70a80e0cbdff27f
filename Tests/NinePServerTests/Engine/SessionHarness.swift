import Synchronization
import Testing
@testable import NinePServer
#if canImport(Glibc)
import Glibc
#endif

/// Drives a ``NinePSession`` the way a transport would and decodes what it sends back.
final class SessionHarness: Sendable {
    enum Event: Equatable, Sendable, CustomStringConvertible {
        case reply(UInt16, RMessage)
        case noReply(UInt16)
        case violation

        var description: String {
            switch self {
            case let .reply(tag, message): "R\(message.type) tag \(tag): \(message)"
            case let .noReply(tag): "no reply for tag \(tag)"
            case .violation: "protocol violation"
            }
        }
    }

    let backend: GatedBackend
    let session: NinePSession
    private final class EventLog: Sendable {
        let events = Mutex<[Event]>([])
    }
    private let log = EventLog()

    init(files: [String] = ["a", "b", "slow"], msize: UInt32 = 65536) {
        let backend = GatedBackend(files: files)
        self.backend = backend
        let log = self.log
        self.session = NinePSession(backend: backend, msizeCeiling: msize) { output in
            let event: Event
            switch output {
            case let .reply(tag, frame):
                guard let (replyTag, message) = try? NineP.decodeReply(frame, msize: .max) else {
                    Issue.record("the session sent a frame that does not decode")
                    return
                }
                #expect(replyTag == tag)
                event = .reply(tag, message)
            case let .noReply(tag): event = .noReply(tag)
            case .protocolViolation: event = .violation
            }
            log.events.withLock { $0.append(event) }
        }
    }

    func send(_ tag: UInt16, _ message: TMessage) {
        guard let frame = try? NineP.encodeRequest(tag: tag, message) else {
            Issue.record("could not encode \(message)")
            return
        }
        session.receive(frame)
    }

    var events: [Event] { log.events.withLock { $0 } }

    /// Events since the last `take()`.
    func take() -> [Event] { log.events.withLock { events in defer { events.removeAll() }; return events } }

    /// Waits (up to 5 s) until `count` events have arrived in total.
    @discardableResult
    func waitForEvents(_ count: Int) async -> [Event] {
        for _ in 0..<5000 {
            if events.count >= count { return events }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return events
    }

    /// Waits until the session has no request and no task left.
    func waitIdle() async -> NinePSessionStatistics {
        for _ in 0..<5000 {
            let statistics = session.statistics
            if statistics.requestsInFlight == 0 && statistics.tasks == 0 { return statistics }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return session.statistics
    }

    /// Waits until `gate` has `count` operations waiting at it.
    func waitForArrivals(_ gate: Gate, _ count: Int = 1) async {
        for _ in 0..<5000 where gate.arrivals < count {
            try? await Task.sleep(for: .milliseconds(1))
        }
    }

    /// Tversion + Tattach of fid 0 to the root.
    func connect() async {
        send(NineP.noTag, .version(msize: 65536, version: "9P2000.L"))
        send(1, .attach(fid: 0, afid: NineP.noFid, uname: "user", aname: "", nUname: 1000))
        await waitForEvents(2)
        _ = take()
    }

    /// Connects, opens "slow" as fid 5 and sends a read of it (tag `tag`) that waits at a new
    /// gate; returns once the read is waiting there.
    func startBlockedRead(tag: UInt16 = 20, honoursCancellation: Bool) async -> Gate {
        await connect()
        await open("slow", as: 5)
        let gate = backend.gate("slow", honoursCancellation: honoursCancellation)
        send(tag, .read(fid: 5, offset: 0, count: 100))
        await waitForArrivals(gate)
        return gate
    }

    /// Walks fid 0 to `name` as `fid` and opens it.
    func open(_ name: String, as fid: UInt32) async {
        let before = events.count
        send(2, .walk(fid: 0, newFid: fid, names: [name]))
        await waitForEvents(before + 1)
        send(3, .lopen(fid: fid, flags: 0))
        await waitForEvents(before + 2)
        _ = take()
    }
}
