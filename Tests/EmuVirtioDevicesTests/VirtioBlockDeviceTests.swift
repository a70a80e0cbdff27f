import BlockLayer
import EmuCore
import EmuVirtio
import EmuVirtioBlock
import EmuVirtioTesting
import Testing

/// virtio-blk over virtio-mmio on a RAM-backed block node.
@Suite("virtio-blk")
struct VirtioBlockDeviceTests {
    typealias Request = VirtioBlockDevice.Request

    struct Machine {
        let memory: FlatGuestMemory
        let disk: MemoryDriver
        let backend: BlockBackend
        let device: VirtioBlockDevice
        let transport: VirtioMMIOTransport
        let driver: VirtioMMIODriver
        var queue: any VirtqueueDriver { driver.queues[0] }

        init(readOnly: Bool = false, features: VirtioFeatures = []) async throws {
            memory = try FlatGuestMemory(size: 8 << 20)
            disk = MemoryDriver(size: 1 << 20, readOnly: readOnly)
            let node = try await BlockNode(name: "disk0", driver: disk)
            backend = try BlockBackend(name: "virtio-blk0", node: node, readOnly: readOnly)
            device = VirtioBlockDevice(backend: backend, serial: "EMU-SERIAL-1")
            transport = VirtioMMIOTransport(device: device, memory: memory, interrupt: IRQLine(unconnected: "irq"))
            driver = VirtioMMIODriver(device: transport)
            try driver.initialize(features: features.union(VirtioBlockDevice.Feature.flush), queueSizes: [64],
                                  memory: memory, ringArea: 0x10000..<0x800000)
        }

        static func header(_ type: UInt32, sector: UInt64) -> [UInt8] {
            var bytes: [UInt8] = []
            withUnsafeBytes(of: type.littleEndian) { bytes += $0 }
            withUnsafeBytes(of: UInt32(0)) { bytes += $0 }
            withUnsafeBytes(of: sector.littleEndian) { bytes += $0 }
            return bytes
        }

        @discardableResult
        func submit(_ type: UInt32, sector: UInt64 = 0, out: [UInt8] = [], inBytes: Int = 0) throws -> UInt16 {
            let token = try queue.submit(DriverRequest(readable: [Self.header(type, sector: sector), out],
                                                       writableLengths: [inBytes, 1]))
            driver.kick(0)
            return token
        }

        func completions(_ count: Int) async throws -> [DriverCompletion] { try await queue.waitForCompletions(count) }

        /// One request's status byte (the last byte written) and data.
        func run(_ type: UInt32, sector: UInt64 = 0, out: [UInt8] = [], inBytes: Int = 0) async throws -> (status: UInt8?, data: [UInt8]) {
            try submit(type, sector: sector, out: out, inBytes: inBytes)
            let done = try #require(try await completions(1).first)
            return (done.written.last, Array(done.written.dropLast()))
        }
    }

    @Test(arguments: [VirtioFeatures(), [.ringPacked, .eventIndex, .indirectDescriptors]])
    func writesAreReadBackThroughTheDevice(features: VirtioFeatures) async throws {
        let m = try await Machine(features: features)
        #expect(m.transport.read(offset: VirtioMMIOTransport.Register.config, size: 4) == 2048)  // capacity in sectors
        let sector = (0..<1024).map { UInt8(truncatingIfNeeded: $0 * 7) }
        #expect(try await m.run(Request.write, sector: 10, out: sector).status == Request.ok)
        #expect(Array(m.disk.contents[5120..<6144]) == sector)
        let read = try await m.run(Request.read, sector: 10, inBytes: 1024)
        #expect(read.status == Request.ok && read.data == sector)
        #expect(try await m.run(Request.flush).status == Request.ok)
    }

    @Test func malformedRequestsGetAnErrorStatusNotACrash() async throws {
        let m = try await Machine()
        #expect(try await m.run(Request.read, sector: 2048, inBytes: 512).status == Request.ioError)  // past the end
        #expect(try await m.run(Request.read, sector: 2047, inBytes: 1024).status == Request.ioError)  // runs past it
        #expect(try await m.run(Request.read, sector: UInt64.max, inBytes: 512).status == Request.ioError)  // overflow
        #expect(try await m.run(Request.write, sector: 0, out: [1, 2, 3]).status == Request.ioError)  // not whole sectors
        #expect(try await m.run(99).status == Request.unsupported)
        let id = try await m.run(Request.getID, inBytes: 20)
        #expect(id.status == Request.ok && String(decoding: id.data.prefix(12), as: UTF8.self) == "EMU-SERIAL-1")
        // A chain whose header is short.
        _ = try m.queue.submit(DriverRequest(readable: [[1, 2, 3]], writableLengths: [1]))
        m.driver.kick(0)
        #expect(try await m.completions(1).first?.written == [Request.ioError])
        #expect(m.driver.status.contains(.deviceNeedsReset) == false)
    }

    @Test func discardAndWriteZeroesReadBackAsZeros() async throws {
        let m = try await Machine()
        #expect(try await m.run(Request.write, sector: 4, out: [UInt8](repeating: 0xAB, count: 2048)).status == Request.ok)
        func segment(_ sector: UInt64, _ count: UInt32) -> [UInt8] {
            var b: [UInt8] = []
            withUnsafeBytes(of: sector.littleEndian) { b += $0 }
            withUnsafeBytes(of: count.littleEndian) { b += $0 }
            withUnsafeBytes(of: UInt32(0)) { b += $0 }
            return b
        }
        #expect(try await m.run(Request.discard, out: segment(4, 1)).status == Request.ok)
        #expect(try await m.run(Request.writeZeroes, out: segment(6, 1)).status == Request.ok)
        let back = try await m.run(Request.read, sector: 4, inBytes: 2048).data
        #expect(Array(back[0..<512]).allSatisfy { $0 == 0 } && Array(back[512..<1024]).allSatisfy { $0 == 0xAB })
        #expect(Array(back[1024..<1536]).allSatisfy { $0 == 0 } && Array(back[1536..<2048]).allSatisfy { $0 == 0xAB })
    }

    @Test func aReadOnlyDiskRefusesWrites() async throws {
        let m = try await Machine(readOnly: true)
        #expect(m.driver.offeredFeatures.contains(VirtioBlockDevice.Feature.readOnly))
        #expect(try await m.run(Request.write, sector: 0, out: [UInt8](repeating: 1, count: 512)).status == Request.ioError)
        #expect(m.disk.contents[0] == 0)
    }

    /// Seed 004's device half: during a drained section the device takes nothing from its ring,
    /// and what the guest queued meanwhile is served, not lost, when the section ends.
    @Test func aDrainedSectionHoldsGuestRequestsInTheRing() async throws {
        let m = try await Machine()
        await m.backend.drainedBegin()
        let data = [UInt8](repeating: 0x5A, count: 512)
        try m.submit(Request.write, sector: 1, out: data)
        try await Task.sleep(for: .milliseconds(30))
        #expect(try m.queue.takeCompletions().isEmpty)
        #expect(m.backend.inFlight == 0 && m.backend.queuedCount == 0)  // not even taken from the ring
        #expect(m.disk.contents[512] == 0)
        try m.backend.drainedEnd()
        #expect(try await m.completions(1).first?.written == [Request.ok])
        #expect(Array(m.disk.contents[512..<1024]) == data)
    }
}
