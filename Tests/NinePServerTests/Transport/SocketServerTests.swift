import Testing
@testable import NinePServer
#if canImport(Glibc)
import Glibc
#endif

@Suite("9P socket server")
struct SocketServerTests {
    private func handshake(_ client: NinePTestClient) async throws {
        try client.send(NineP.noTag, .version(msize: 8192, version: "9P2000.L"))
        let version = try #require(try await client.receive())
        #expect(version.1 == .version(msize: 8192, version: "9P2000.L"))
        try client.send(1, .attach(fid: 0, afid: NineP.noFid, uname: "u", aname: "any/aname", nUname: 0))
        let attach = try #require(try await client.receive())
        if case .attach = attach.1 {} else { Issue.record("attach failed: \(attach.1)") }
    }

    @Test func servesManyClientsOverTCP() async throws {
        let backend = GatedBackend(files: ["a", "b"])
        let server = try NinePSocketServer(address: .tcp(host: "127.0.0.1", port: 0), backend: backend)
        #expect(server.boundPort != 0)
        let clients = try (0..<8).map { _ in try NinePTestClient(address: server.address, port: server.boundPort) }
        for client in clients { try await handshake(client) }
        for (index, client) in clients.enumerated() {
            let name = index % 2 == 0 ? "a" : "b"
            try client.send(2, .walk(fid: 0, newFid: 1, names: [name]))
            _ = try await client.receive()
            try client.send(3, .lopen(fid: 1, flags: 0))
            _ = try await client.receive()
            try client.send(4, .read(fid: 1, offset: 0, count: 100))
            let reply = try #require(try await client.receive())
            #expect(reply.0 == 4 && reply.1 == .read(data: Array(name.utf8)))
        }
        #expect(server.connectionCount == 8)
        await server.stop()
        #expect(server.connectionCount == 0)
        #expect(backend.openFiles.load(ordering: .relaxed) == 0, "every session released its files")
        for client in clients { #expect(await client.isClosedByPeer()) }
    }

    @Test func hostileClientIsDisconnectedWhileOthersAreStillServed() async throws {
        let path = "/tmp/emu-9p-test-\(getpid()).sock"
        let server = try NinePSocketServer(address: .unix(path: path), backend: GatedBackend(files: ["a"]))
        let good = try NinePTestClient(address: server.address, port: 0)
        let hostile = try NinePTestClient(address: server.address, port: 0)
        let oversized = try NinePTestClient(address: server.address, port: 0)
        try await handshake(good)
        hostile.sendRaw([3, 0, 0, 0, 100, 0, 0])             // size 3: below the header
        oversized.sendRaw([0xFF, 0xFF, 0xFF, 0xFF, 100, 0, 0]) // 4 GiB: never buffered
        #expect(await hostile.isClosedByPeer())
        #expect(await oversized.isClosedByPeer())
        try good.send(2, .walk(fid: 0, newFid: 1, names: ["a"]))
        let reply = try #require(try await good.receive())
        if case .walk(let qids) = reply.1 { #expect(qids.count == 1) } else { Issue.record("\(reply.1)") }
        await server.stop()
        #expect(access(path, F_OK) != 0, "the socket file is removed")
    }

    @Test func requestsBeyondTheInFlightCapWaitUntilRepliesDrain() async throws {
        let backend = GatedBackend(files: ["slow"])
        let server = try NinePSocketServer(address: .tcp(host: "127.0.0.1", port: 0), backend: backend)
        let client = try NinePTestClient(address: server.address, port: server.boundPort)
        try await handshake(client)
        try client.send(2, .walk(fid: 0, newFid: 1, names: ["slow"]))
        _ = try await client.receive()
        try client.send(3, .lopen(fid: 1, flags: 0))
        _ = try await client.receive()
        let gate = backend.gate("slow", honoursCancellation: false)
        let total = NinePConnection.maxRequestsInFlight + 44
        var burst: [UInt8] = []
        for tag in 0..<total {
            burst += try NineP.encodeRequest(tag: UInt16(100 + tag), .read(fid: 1, offset: 0, count: 4))
        }
        client.sendRaw(burst) // one write: the server reads them all at once
        for _ in 0..<5000 where gate.arrivals < NinePConnection.maxRequestsInFlight {
            try await Task.sleep(for: .milliseconds(1))
        }
        try await Task.sleep(for: .milliseconds(50))
        #expect(gate.arrivals == NinePConnection.maxRequestsInFlight, "the rest wait unread")
        gate.open()
        var tags = Set<UInt16>()
        while tags.count < total, let reply = try await client.receive() { tags.insert(reply.0) }
        #expect(tags.count == total, "every held request was served once replies drained")
        await server.stop()
    }

    /// Replies are written by the request's own thread while the socket takes them; once it is
    /// full (the client is not reading) the rest are queued and the loop writes them when the
    /// socket drains. Nothing is lost or reordered on the way: a Tflush's Rflush still follows
    /// the reply of the request it waited for, behind megabytes of queued replies.
    @Test func repliesTheSocketCannotTakeAreQueuedAndLeaveInOrder() async throws {
        let backend = GatedBackend(files: ["slow"])
        let content = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) }
        backend.addFile("big", content: content)
        let path = "/tmp/emu-9p-test-order-\(getpid()).sock"
        let server = try NinePSocketServer(address: .unix(path: path), backend: backend)
        let client = try NinePTestClient(address: server.address, port: 0)
        try client.send(NineP.noTag, .version(msize: 1 << 20, version: "9P2000.L"))
        _ = try await client.receive()
        try client.send(1, .attach(fid: 0, afid: NineP.noFid, uname: "u", aname: "", nUname: 0))
        _ = try await client.receive()
        for (fid, name) in [(UInt32(1), "big"), (2, "slow")] {
            try client.send(2, .walk(fid: 0, newFid: fid, names: [name]))
            _ = try await client.receive()
            try client.send(3, .lopen(fid: fid, flags: 0))
            _ = try await client.receive()
        }
        let gate = backend.gate("slow", honoursCancellation: false)
        try client.send(50, .read(fid: 2, offset: 0, count: 4))
        for _ in 0..<5000 where gate.arrivals < 1 { try await Task.sleep(for: .milliseconds(1)) }
        // 40 replies of 128 KiB: far more than a socket buffer, less than the back-pressure limit.
        let chunk = 128 << 10
        let reads = (0..<40).map { (tag: UInt16(100 + $0), offset: $0 * (16 << 10)) }
        for read in reads { try client.send(read.tag, .read(fid: 1, offset: UInt64(read.offset), count: UInt32(chunk))) }
        try await Task.sleep(for: .milliseconds(200)) // the replies pile up, unread
        try client.send(60, .flush(oldTag: 50))
        try await Task.sleep(for: .milliseconds(20))
        gate.open() // the read completes anyway: its reply, then the Rflush
        var order: [UInt16] = []
        while order.count < reads.count + 2, let (tag, message) = try await client.receive() {
            order.append(tag)
            if let read = reads.first(where: { $0.tag == tag }) {
                #expect(message == .read(data: Array(content[read.offset..<read.offset + chunk])), "tag \(tag)")
            }
        }
        #expect(Set(order) == Set(reads.map(\.tag) + [50, 60]), "every reply arrived once")
        let victim = try #require(order.firstIndex(of: 50)), flush = try #require(order.firstIndex(of: 60))
        #expect(victim < flush, "Rread before Rflush")
        await server.stop()
    }

    /// Replies finishing at the same moment on many threads go out whole, one after another:
    /// every frame decodes and carries its own request's bytes.
    @Test func repliesFinishingTogetherOnManyThreadsDoNotInterleave() async throws {
        let backend = GatedBackend(files: ["slow"])
        let content = (0..<(256 << 10)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        backend.addFile("big", content: content)
        let server = try NinePSocketServer(address: .tcp(host: "127.0.0.1", port: 0), backend: backend)
        let client = try NinePTestClient(address: server.address, port: server.boundPort)
        try client.send(NineP.noTag, .version(msize: 1 << 20, version: "9P2000.L"))
        _ = try await client.receive()
        try client.send(1, .attach(fid: 0, afid: NineP.noFid, uname: "u", aname: "", nUname: 0))
        _ = try await client.receive()
        try client.send(2, .walk(fid: 0, newFid: 1, names: ["big"]))
        _ = try await client.receive()
        try client.send(3, .lopen(fid: 1, flags: 0))
        _ = try await client.receive()
        let gate = backend.gate("big", honoursCancellation: false)
        let reads = (0..<120).map { (tag: UInt16(200 + $0), offset: ($0 * 977) % (128 << 10), count: 1 + ($0 * 1237) % (96 << 10)) }
        for read in reads {
            try client.send(read.tag, .read(fid: 1, offset: UInt64(read.offset), count: UInt32(read.count)))
        }
        for _ in 0..<5000 where gate.arrivals < reads.count { try await Task.sleep(for: .milliseconds(1)) }
        gate.open() // all 120 complete at once, on whatever threads resume them
        var seen = Set<UInt16>()
        while seen.count < reads.count, let (tag, message) = try await client.receive() {
            let read = try #require(reads.first { $0.tag == tag }, "unexpected tag \(tag)")
            #expect(message == .read(data: Array(content[read.offset..<read.offset + read.count])), "tag \(tag)")
            #expect(seen.insert(tag).inserted, "tag \(tag) answered twice")
        }
        #expect(seen.count == reads.count)
        await server.stop()
    }

    @Test func listenAddressesParse() {
        #expect(NinePListenAddress(parsing: "tcp:127.0.0.1:564") == .tcp(host: "127.0.0.1", port: 564))
        #expect(NinePListenAddress(parsing: "tcp:[::1]:5640") == .tcp(host: "::1", port: 5640))
        #expect(NinePListenAddress(parsing: "unix:/run/9p.sock") == .unix(path: "/run/9p.sock"))
        #expect(NinePListenAddress(parsing: "tcp:host:99999") == nil)
        #expect(NinePListenAddress(parsing: "udp:1.2.3.4:5") == nil)
        #expect(NinePListenAddress(parsing: "unix:") == nil)
    }
}
