import BenchmarkSupport
import BlockLayer
import EmuCore
import EmuVirtio
import EmuVirtioTesting

/// virtio-blk 4 KiB reads per second through the whole device path (ring, transport, device,
/// backend, RAM node) beside the same reads issued to the backend directly. `depth` requests are
/// kept in flight.
func runBlockBenchmarks(requests: Int) async throws {
    let memory = try FlatGuestMemory(size: 64 << 20)
    let node = try await BlockNode(name: "ram0", driver: MemoryDriver(size: 64 << 20))
    let backend = try BlockBackend(name: "bench", node: node)
    let device = VirtioBlockDevice(backend: backend)
    let transport = VirtioMMIOTransport(device: device, memory: memory, interrupt: IRQLine(unconnected: "irq"))
    let driver = VirtioMMIODriver(device: transport)
    try driver.initialize(features: [.eventIndex], queueSizes: [256], memory: memory, ringArea: 0x10000..<(64 << 20))
    let queue = driver.queues[0]
    var header = [UInt8](repeating: 0, count: 16)  // VIRTIO_BLK_T_IN, sector patched per request

    for depth in [1, 32] {
        let start = ContinuousClock.now
        var submitted = 0, completed = 0
        while completed < requests {
            while submitted < requests && submitted - completed < depth {
                let sector = UInt64((submitted * 8) % (60 << 11))
                withUnsafeBytes(of: sector.littleEndian) { header.replaceSubrange(8..<16, with: $0) }
                _ = try queue.submit(DriverRequest(readable: [header], writableLengths: [4096, 1]))
                submitted += 1
            }
            driver.kick(0)
            let done = try queue.takeCompletions()
            completed += done.count
            if done.isEmpty { await Task.yield() }
        }
        let viaDevice = Measurement(name: "virtio-blk 4 KiB reads, depth \(depth)", operations: Double(requests),
                                    seconds: seconds(since: start), unit: "ops")

        let directStart = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<depth {
                group.addTask {
                    var i = lane
                    while i < requests {
                        _ = try await backend.read(at: UInt64((i * 4096) % (60 << 20)), count: 4096)
                        i += depth
                    }
                }
            }
            try await group.waitForAll()
        }
        let direct = Measurement(name: "backend.read depth \(depth)", operations: Double(requests),
                                 seconds: seconds(since: directStart), unit: "ops")
        report(viaDevice, against: direct)
    }
}

private func seconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}
