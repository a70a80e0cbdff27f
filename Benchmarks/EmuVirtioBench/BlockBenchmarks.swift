import BenchmarkSupport
import BlockLayer
import EmuCore
import EmuVirtio
import EmuVirtioBlock
import EmuVirtioTesting

/// virtio-blk 4 KiB reads per second through the whole device path (ring, transport, device,
/// backend, RAM node) beside the same reads issued to the backend directly. `depth` requests are
/// kept in flight.
///
/// The driver side is as light as a guest's: `depth` three-descriptor chains (header, 4 KiB,
/// status) are written into the descriptor table once; each request then only patches its header's
/// sector, publishes its head and kicks, and completions are read straight from the used ring. So
/// the figures are the device's cost, not the test kit's bookkeeping.
func runBlockBenchmarks(requests: Int) async throws {
    let memory = try FlatGuestMemory(size: 64 << 20)
    let node = try await BlockNode(name: "ram0", driver: MemoryDriver(size: 64 << 20))
    let backend = try BlockBackend(name: "bench", node: node)
    let device = VirtioBlockDevice(backend: backend)
    let transport = VirtioMMIOTransport(device: device, memory: memory, interrupt: IRQLine(unconnected: "irq"))
    let driver = VirtioMMIODriver(device: transport)
    try driver.initialize(features: [.eventIndex], queueSizes: [256], memory: memory, ringArea: 0x10000..<(64 << 20))
    guard let queue = driver.queues[0] as? SplitQueueDriver else { throw BenchmarkSetupError("queue 0 is not split") }
    let usedRing = queue.configuration.deviceArea
    let ringSize = UInt16(queue.configuration.size)

    for depth in [1, 32] {
        // Chain d: descriptors 3d (header), 3d+1 (data, device-writable), 3d+2 (status).
        var headers: [UInt64] = []
        for d in 0..<UInt16(depth) {
            let header = try queue.allocate(16), data = try queue.allocate(4096, alignment: 4096), status = try queue.allocate(1)
            headers.append(header)
            try queue.writeDescriptor(index: 3 * d, address: header, length: 16, flags: VirtqueueDescriptorFlags.next, next: 3 * d + 1)
            try queue.writeDescriptor(index: 3 * d + 1, address: data, length: 4096,
                                      flags: VirtqueueDescriptorFlags.next | VirtqueueDescriptorFlags.write, next: 3 * d + 2)
            try queue.writeDescriptor(index: 3 * d + 2, address: status, length: 1, flags: VirtqueueDescriptorFlags.write, next: 0)
        }
        var usedSeen = try memory.read(count: 2, at: usedRing + 2).withUnsafeBytes { $0.loadUnaligned(as: UInt16.self) }
        var free = Array((0..<UInt16(depth)).reversed())
        let start = ContinuousClock.now
        var submitted = 0, completed = 0
        while completed < requests {
            var kicked = false
            while submitted < requests, let d = free.popLast() {
                let sector = UInt64((submitted * 8) % (60 << 11))
                try withUnsafeBytes(of: (UInt32(0).littleEndian, UInt32(0), sector.littleEndian)) {  // VIRTIO_BLK_T_IN
                    try memory.write($0, at: headers[Int(d)])
                }
                try queue.makeAvailable(head: 3 * d)
                submitted += 1
                kicked = true
            }
            if kicked { driver.kick(0) }
            let usedNow = try memory.read(count: 2, at: usedRing + 2).withUnsafeBytes { $0.loadUnaligned(as: UInt16.self) }
            if usedNow == usedSeen { await Task.yield(); continue }
            while usedSeen != usedNow {
                let slot = usedRing + 4 + 8 * UInt64(usedSeen % ringSize)
                let id = try memory.read(count: 4, at: slot).withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
                free.append(UInt16(truncatingIfNeeded: id / 3))
                usedSeen &+= 1
                completed += 1
            }
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

/// The benchmark's own set-up went wrong.
struct BenchmarkSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

private func seconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}
