import EmuCore
import EmuVirtio
import EmuVirtioNineP
import EmuVirtioTesting
import NinePServer
import Testing

/// virtio-9p through virtio-mmio and the test kit: 9P frames in chains, replies in the
/// writable parts, and seed 000's zero-length used element for a flushed request.
@Suite("virtio-9p")
struct VirtioNinePDeviceTests {
    struct Machine {
        let memory: FlatGuestMemory
        let backend = HeldGetattrBackend()
        let device: VirtioNinePDevice
        let transport: VirtioMMIOTransport
        let driver: VirtioMMIODriver
        var queue: any VirtqueueDriver { driver.queues[0] }

        init(features: VirtioFeatures = []) throws {
            memory = try FlatGuestMemory(size: 4 << 20)
            device = try VirtioNinePDevice(mountTag: "hostshare", backend: backend, msizeCeiling: 64 * 1024, queueSize: 32)
            transport = VirtioMMIOTransport(device: device, memory: memory, interrupt: IRQLine(unconnected: "irq"))
            driver = VirtioMMIODriver(device: transport)
            try driver.initialize(features: features.union(VirtioNinePDevice.mountTagFeature), queueSizes: [32],
                                  memory: memory, ringArea: 0x10000..<0x400000)
        }

        /// Submits `message` with `tag` and a reply buffer of `replySpace` bytes; kicks.
        @discardableResult
        func send(_ tag: UInt16, _ message: TMessage, replySpace: Int = 8192) throws -> UInt16 {
            let token = try queue.submit(DriverRequest(readable: [try NineP.encodeRequest(tag: tag, message)],
                                                       writableLengths: [replySpace]))
            driver.kick(0)
            return token
        }

        func completions(_ count: Int) async throws -> [DriverCompletion] { try await queue.waitForCompletions(count) }

        func attach() async throws {
            try send(1, .version(msize: 8192, version: "9P2000.L"))
            try send(2, .attach(fid: 1, afid: UInt32.max, uname: "root", aname: "", nUname: 0))
            let done = try await completions(2)
            #expect(done.count == 2)
            #expect(try done.map { try NineP.decodeReply($0.written).message.type } == [.rversion, .rattach])
        }
    }

    @Test(arguments: [VirtioFeatures(), [.ringPacked, .eventIndex]])
    func theMountTagIsInConfigSpaceAndRequestsAreAnswered(features: VirtioFeatures) async throws {
        let m = try Machine(features: features)
        #expect(m.driver.features.contains(VirtioNinePDevice.mountTagFeature))
        let tagLength = m.transport.read(offset: VirtioMMIOTransport.Register.config, size: 2)
        #expect(tagLength == 9)
        let tag = (0..<9).map { UInt8(m.transport.read(offset: VirtioMMIOTransport.Register.config + 2 + UInt64($0), size: 1)) }
        #expect(String(decoding: tag, as: UTF8.self) == "hostshare")
        try await m.attach()
        m.backend.release()
        try m.send(3, .getattr(fid: 1, requestMask: 0x7FF))
        let reply = try #require(try await m.completions(1).first)
        guard case .getattr(let attributes) = try NineP.decodeReply(reply.written).message else {
            Issue.record("not an Rgetattr")
            return
        }
        #expect(attributes.mode == 0o40755)
    }

    /// Seed 000: the flushed request's chain comes back empty (length 0), before the Rflush.
    @Test func aFlushedRequestReturnsItsChainWithLengthZeroBeforeTheRflush() async throws {
        let m = try Machine()
        try await m.attach()
        let victim = try m.send(10, .getattr(fid: 1, requestMask: 0x7FF))
        for _ in 0..<1000 where m.backend.waiting == 0 { try await Task.sleep(for: .milliseconds(1)) }
        #expect(m.backend.waiting == 1)
        let flush = try m.send(11, .flush(oldTag: 10))
        let done = try await m.completions(2)
        #expect(done.map(\.token) == [victim, flush])
        #expect(done.first?.writtenLength == 0)  // no Rlerror(EINTR): nothing at all
        #expect(try NineP.decodeReply(done[1].written).message == .flush)
        #expect(m.driver.status.contains(.deviceNeedsReset) == false)
    }

    @Test func aTagStillInFlightIsRefusedInItsOwnChain() async throws {
        let m = try Machine()
        try await m.attach()
        let first = try m.send(20, .getattr(fid: 1, requestMask: 0x7FF))
        let second = try m.send(20, .getattr(fid: 1, requestMask: 0x7FF))
        let refused = try #require(try await m.completions(1).first)
        #expect(refused.token == second)
        #expect(try NineP.decodeReply(refused.written).message == .lerror(errno: UInt32(NinePError.invalid.errno)))
        m.backend.release()
        let answered = try #require(try await m.completions(1).first)
        #expect(answered.token == first && answered.writtenLength > 0)
    }

    @Test func aChainWithoutAHeaderOrWithALyingSizeNeedsAReset() async throws {
        for bytes: [UInt8] in [[1, 2, 3], [0xFF, 0, 0, 0, 100, 1, 0, 0, 0]] {
            let m = try Machine()
            _ = try m.queue.submit(DriverRequest(readable: [bytes], writableLengths: [64]))
            m.driver.kick(0)
            #expect(m.driver.status.contains(.deviceNeedsReset))
            #expect(m.transport.core.lastError?.hasPrefix("virtio-9p") == true)
        }
    }

    @Test func aReplyBufferTooSmallNeedsAReset() async throws {
        let m = try Machine()
        try m.send(1, .version(msize: 8192, version: "9P2000.L"), replySpace: 4)
        #expect(m.driver.status.contains(.deviceNeedsReset))
    }

    @Test func afterResetARequestStillRunningWritesNothing() async throws {
        let m = try Machine()
        try await m.attach()
        try m.send(30, .getattr(fid: 1, requestMask: 0x7FF))
        for _ in 0..<1000 where m.backend.waiting == 0 { try await Task.sleep(for: .milliseconds(1)) }
        let usedIndexAddress = m.queue.configuration.deviceArea + 2
        let before: UInt16 = try m.memory.load(at: usedIndexAddress)
        m.driver.reset()
        m.backend.release()
        try await Task.sleep(for: .milliseconds(50))
        #expect(try m.memory.load(UInt16.self, at: usedIndexAddress) == before)
    }

    @Test func mountTagsAreChecked() {
        #expect(throws: VirtioNinePDeviceError.invalidMountTag("")) { try VirtioNinePDevice(mountTag: "", backend: HeldGetattrBackend()) }
        let long = String(repeating: "x", count: 256)
        #expect(throws: VirtioNinePDeviceError.invalidMountTag(long)) { try VirtioNinePDevice(mountTag: long, backend: HeldGetattrBackend()) }
    }
}

@Suite("virtio-9p against a hostile driver")
struct VirtioNinePHostileTests {
    /// A frame claiming 3 GiB in a chain that claims 3 GiB of readable buffers: refused before
    /// anything that large is allocated.
    @Test func aHugeClaimedFrameIsRefusedBeforeAllocation() throws {
        let m = try VirtioNinePDeviceTests.Machine()
        let q = try #require(m.driver.queues[0] as? SplitQueueDriver)
        let header: [UInt8] = [0, 0, 0, 0xC0, 100, 1, 0]  // size 0xC000_0000
        let at = try q.allocate(64)
        try m.memory.write(header, at: at)
        try q.writeDescriptor(index: 0, address: at, length: 0xC000_0000, flags: VirtqueueDescriptorFlags.next, next: 1)
        try q.writeDescriptor(index: 1, address: at, length: 64, flags: VirtqueueDescriptorFlags.write, next: 0)
        try q.makeAvailable(head: 0)
        m.driver.kick(0)
        #expect(m.driver.status.contains(.deviceNeedsReset))
        #expect(m.transport.core.lastError?.contains("msize ceiling") == true)
    }
}
