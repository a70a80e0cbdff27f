import Synchronization
import Testing
@testable import NinePServer
#if canImport(Glibc)
import Glibc
#endif

/// Clients that send requests and never read a reply: the server holds each to a few msize
/// and all of them to the memory budget, serves a client that does read meanwhile, and gives
/// every byte back once they close.
@Suite("9P server memory under clients that never read")
struct SlowReaderMemoryTests {
    static let msize: UInt32 = 64 << 10

    private func open(_ client: NinePTestClient, file: String) async throws {
        try client.send(NineP.noTag, .version(msize: Self.msize, version: "9P2000.L"))
        _ = try #require(try await client.receive())
        try client.send(1, .attach(fid: 0, afid: NineP.noFid, uname: "u", aname: "", nUname: 0))
        _ = try #require(try await client.receive())
        try client.send(2, .walk(fid: 0, newFid: 1, names: [file]))
        _ = try #require(try await client.receive())
        try client.send(3, .lopen(fid: 1, flags: 0))
        let opened = try #require(try await client.receive())
        if case .lopen = opened.1 {} else { Issue.record("lopen: \(opened.1)") }
    }

    @Test func neverReadingClientsStayWithinTheBudgetAndAReaderIsServed() async throws {
        let backend = GatedBackend(files: [])
        let content = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ $0 >> 11) }
        backend.addFile("big", content: content)
        let limit = 16 << 20
        let path = "/tmp/emu-9p-slow-readers-\(getpid()).sock"
        let server = try NinePSocketServer(address: .unix(path: path), backend: backend, msizeCeiling: Self.msize, maxMemory: limit)
        let budget = server.memoryBudget
        let reader = try NinePTestClient(address: server.address, port: 0)
        try await open(reader, file: "big")

        // 32 clients each ask for 512 reads of 64 KiB (32 MiB each, 1 GiB in all) and read nothing.
        let count = UInt32(Self.msize) - UInt32(NineP.readReplyHeaderSize)
        var hostile: [NinePTestClient] = []
        for _ in 0..<32 {
            let client = try NinePTestClient(address: server.address, port: 0)
            try await open(client, file: "big")
            var burst: [UInt8] = []
            for tag in 0..<512 {
                let offset = UInt64(tag % 16) * UInt64(count)
                burst += try NineP.encodeRequest(tag: UInt16(100 + tag), .read(fid: 1, offset: offset, count: count))
            }
            client.sendRaw(burst)
            hostile.append(client)
        }

        // Meanwhile the reader reads the whole file, one request at a time.
        var received: [UInt8] = []
        var tag: UInt16 = 10
        while received.count < content.count {
            try reader.send(tag, .read(fid: 1, offset: UInt64(received.count), count: count))
            let reply = try #require(try await reader.receive(), "the reading client is answered")
            guard case let .read(data) = reply.1, reply.0 == tag, !data.isEmpty else {
                Issue.record("unexpected reply \(reply)")
                break
            }
            received += data
            tag &+= 1
        }
        #expect(received == content, "the reading client got the file intact")
        try await Task.sleep(for: .milliseconds(100))
        let peak = budget.peakAccountedBytes
        #expect(peak <= limit, "accounted \(peak) of \(limit)")
        #expect(peak > limit / 2, "the clients that never read did press on the budget (\(peak))")
        #expect(budget.committedBytes <= limit)

        // They go away: their buffers, floors and replies are all given back.
        hostile.removeAll()
        for _ in 0..<5000 where server.connectionCount > 1 { try await Task.sleep(for: .milliseconds(1)) }
        #expect(server.connectionCount == 1)
        #expect(budget.accountCount == 1)
        #expect(budget.accountedBytes == NinePConnection.inputCharge(msize: Int(Self.msize)), "only the reader's input buffers")
        await server.stop()
        #expect(budget.accountedBytes == 0 && budget.committedBytes == 0 && budget.accountCount == 0)
        #expect(budget.peakAccountedBytes <= limit)
    }

    @Test func budgetKeepsFloorsCapsAndWakesWaiters() {
        let budget = NinePMemoryBudget(limit: 1000)
        let woken = Atomic<Int>(0)
        let wake: @Sendable () -> Void = { woken.add(1, ordering: .relaxed) }
        let a = budget.open(floor: 400, initial: 100, wake: wake)
        let b = budget.open(floor: 400, initial: 100, wake: wake)
        let refused = budget.open(floor: 400, initial: 100, wake: wake)
        #expect(a != nil && b != nil && refused == nil, "a third floor does not fit in 1000")
        guard let a, let b else { return }
        #expect(budget.committedBytes == 800 && budget.accountedBytes == 200)
        // Within its floor an account always fits; beyond it, only what no floor reserves.
        #expect(budget.charge(a, 300, cap: 900, wake: wake) == .charged)
        #expect(budget.charge(a, 200, cap: 900, wake: wake) == .charged)       // 600: 200 beyond its floor
        #expect(budget.charge(a, 100, cap: 900, wake: wake) == .overBudget)    // 700 would need 1100
        #expect(budget.charge(b, 300, cap: 900, wake: wake) == .charged, "b's floor is still its own")
        #expect(budget.charge(b, 10, cap: 400, wake: wake) == .overCap)
        #expect(budget.accountedBytes == 1000 && budget.committedBytes == 1000)
        budget.release(a, 150)
        #expect(woken.load(ordering: .relaxed) >= 2, "the waiters for the budget were woken")
        #expect(budget.charge(a, 100, cap: 900, wake: wake) == .charged)
        budget.close(a)
        budget.close(a)
        #expect(budget.accountCount == 1 && budget.accountedBytes == 400 && budget.committedBytes == 400)
        #expect(budget.setFloor(b, 100) && budget.committedBytes == 400, "a floor never drops below use")
        budget.close(b)
        #expect(budget.accountedBytes == 0 && budget.committedBytes == 0)
        #expect(budget.peakAccountedBytes == 1000)
    }

    @Test func requestChargesBoundTheirReplies() throws {
        let read = try NineP.encodeRequest(tag: 5, .read(fid: 1, offset: 0, count: 1 << 20))
        #expect(NinePConnection.charge(of: read, msize: 65536) == read.count + 65536)
        let small = try NineP.encodeRequest(tag: 5, .read(fid: 1, offset: 0, count: 100))
        #expect(NinePConnection.charge(of: small, msize: 65536) == small.count + 111)
        let walk = try NineP.encodeRequest(tag: 5, .walk(fid: 0, newFid: 1, names: ["a"]))
        #expect(NinePConnection.charge(of: walk, msize: 65536) == walk.count + NinePConnection.smallReplyAllowance)
    }
}
