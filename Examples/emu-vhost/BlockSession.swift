import EmuCore
import EmuVirtio
import EmuVirtioBlock
import EmuVirtioTesting
import VhostUser
#if canImport(Glibc)
import Glibc
#endif

/// Why a command failed.
struct ToolError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A guest without a CPU: its own RAM, a vhost-user-blk device on a virtio-mmio transport, and
/// EmuVirtioTesting's driver doing what a guest's virtio-blk driver does.
final class BlockSession {
    let memory: FlatGuestMemory
    let io: IOThread
    let device: VhostUserDevice
    let transport: VirtioMMIOTransport
    let driver: VirtioMMIODriver
    let interrupt: EventNotifier
    let queueSize: UInt16

    static let ramSize: UInt64 = 128 << 20
    static let maxTransfer = 1 << 20

    let queueCount: Int

    init(socket: String, queueSize: UInt16 = 128, queueCount: Int = 1, reconnect: Bool = false) throws {
        guard queueCount >= 1, queueCount <= 16 else { throw ToolError("--queues must be 1...16") }
        self.queueCount = queueCount
        memory = try FlatGuestMemory(size: Self.ramSize)
        io = try IOThread(name: "emu-vhost")
        device = try VhostUserBlockDevice.connect(socketPath: socket, regions: VhostUserGuestRegion.regions(of: memory),
                                                  loop: io.loop, queueSize: queueSize, queueCount: queueCount,
                                                  reconnect: reconnect)
        let interrupt = try EventNotifier()
        self.interrupt = interrupt
        transport = VirtioMMIOTransport(device: device, memory: memory,
                                        interrupt: IRQLine(name: "blk") { level in if level { interrupt.notify() } })
        driver = VirtioMMIODriver(device: transport)
        self.queueSize = queueSize
        try initializeDriver()
    }

    /// Runs the driver's initialisation (again, after a reset).
    func initializeDriver() throws {
        // No EVENT_IDX: the test driver does not move used_event, so every completion interrupts.
        try driver.initialize(features: [.indirectDescriptors, VirtioBlockDevice.Feature.flush],
                              queueSizes: Array(repeating: queueSize, count: queueCount), memory: memory,
                              ringArea: 0x10000..<Self.ramSize)
    }

    deinit { io.stop() }

    /// What a guest driver does when the device asks for a reset: reset it (the device then
    /// reconnects to its back end if it can) and initialise it again.
    func recover() throws {
        driver.reset()
        transport.core.acknowledgeInterrupts(VirtioTransportCore.interruptUsedBuffer | VirtioTransportCore.interruptConfiguration)
        interrupt.testAndClear()
        try initializeDriver()
    }

    var capacityBytes: UInt64 { VhostUserBlockDevice.capacity(of: device) * 512 }

    static func header(_ type: UInt32, sector: UInt64) -> [UInt8] {
        var b: [UInt8] = []
        withUnsafeBytes(of: type.littleEndian) { b += $0 }
        b += [0, 0, 0, 0]
        withUnsafeBytes(of: sector.littleEndian) { b += $0 }
        return b
    }

    /// Queues a read or write of `length` bytes at `offset` (512-byte aligned); returns its token.
    func submit(write: Bool, offset: UInt64, data: [UInt8] = [], length: Int) throws -> UInt16 {
        let h = Self.header(write ? VirtioBlockDevice.Request.write : VirtioBlockDevice.Request.read, sector: offset / 512)
        let request = write ? DriverRequest(readable: [h, data], writableLengths: [1])
                            : DriverRequest(readable: [h], writableLengths: [length, 1])
        return try driver.queues[0].submit(request)
    }

    /// Waits for at least one completion (by the used-buffer interrupt), at most `timeout`.
    func completions(timeout: Duration = .seconds(10)) throws -> [DriverCompletion] {
        let deadline = ContinuousClock.now + timeout
        while true {
            var done = try driver.queues[0].takeCompletions()
            if !done.isEmpty { return done }
            transport.core.acknowledgeInterrupts(VirtioTransportCore.interruptUsedBuffer)
            done = try driver.queues[0].takeCompletions()
            if !done.isEmpty { return done }
            if let why = device.brokenReason { throw ToolError(why) }
            if transport.core.status.contains(.deviceNeedsReset) { throw ToolError(transport.core.lastError ?? "device needs a reset") }
            let left = deadline - ContinuousClock.now
            guard left > .zero else { throw ToolError("no completion within \(timeout)") }
            var p = pollfd(fd: interrupt.fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&p, 1, Int32(clamping: left.components.seconds * 1000 + 1))
            interrupt.testAndClear()
        }
    }

    /// Runs one request to its end and checks its status byte.
    func run(write: Bool, offset: UInt64, data: [UInt8] = [], length: Int) throws -> [UInt8] {
        let token = try submit(write: write, offset: offset, data: data, length: length)
        driver.kick(0)
        let done = try completions()
        guard let c = done.first, c.token == token else { throw ToolError("unexpected completion") }
        guard c.written.last == VirtioBlockDevice.Request.ok else {
            throw ToolError("\(write ? "write" : "read") at \(offset): status \(c.written.last.map(String.init) ?? "none")")
        }
        return Array(c.written.dropLast())
    }

    /// Reads `length` bytes at any `offset` (whole sectors are read around it).
    func read(offset: UInt64, length: Int) throws -> [UInt8] {
        guard offset <= capacityBytes, UInt64(length) <= capacityBytes - offset else { throw ToolError("range past the disk's end") }
        let first = offset / 512 * 512
        let end = (offset + UInt64(length) + 511) / 512 * 512
        var out: [UInt8] = []
        var at = first
        while at < end {
            let n = Int(min(UInt64(Self.maxTransfer), end - at))
            out += try run(write: false, offset: at, length: n)
            at += UInt64(n)
        }
        let skip = Int(offset - first)
        return Array(out[skip..<skip + length])
    }

    /// Writes `data` at `offset`; unaligned edges are read, merged and written back.
    func write(offset: UInt64, _ data: [UInt8]) throws {
        guard offset <= capacityBytes, UInt64(data.count) <= capacityBytes - offset else { throw ToolError("range past the disk's end") }
        let first = offset / 512 * 512
        let end = (offset + UInt64(data.count) + 511) / 512 * 512
        var image = data
        if first != offset || end != offset + UInt64(data.count) {
            image = try read(offset: first, length: Int(end - first))
            image.replaceSubrange(Int(offset - first)..<Int(offset - first) + data.count, with: data)
        }
        var at = 0
        while at < image.count {
            let n = min(Self.maxTransfer, image.count - at)
            _ = try run(write: true, offset: first + UInt64(at), data: Array(image[at..<at + n]), length: n)
            at += n
        }
    }

    /// 4 KiB requests at random aligned offsets, `depth` in flight, for `duration`: requests per second.
    func bench(write: Bool, depth: Int, duration: Duration) throws -> Double {
        let blocks = capacityBytes / 4096
        guard blocks > 0 else { throw ToolError("disk smaller than 4 KiB") }
        let payload = [UInt8](repeating: 0x5A, count: 4096)
        var inFlight = 0
        var done = 0
        let start = ContinuousClock.now
        let end = start + duration
        while true {
            let now = ContinuousClock.now
            if now < end {
                while inFlight < depth {
                    _ = try submit(write: write, offset: UInt64.random(in: 0..<blocks) * 4096, data: payload, length: 4096)
                    inFlight += 1
                }
                driver.kick(0)
            } else if inFlight == 0 {
                break
            }
            let c = try completions()
            for x in c where x.written.last != VirtioBlockDevice.Request.ok { throw ToolError("request failed: status \(x.written.last ?? 255)") }
            inFlight -= c.count
            done += c.count
        }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return Double(done) / seconds
    }
}
