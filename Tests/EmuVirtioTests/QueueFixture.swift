import EmuCore
import EmuVirtio
import EmuVirtioTesting
import Testing

/// A guest of 1 MiB of RAM at 0 with a queue's rings at 0x1000 and buffers in [0x40000, 1 MiB).
struct QueueFixture {
    static let ringAddress: UInt64 = 0x1000
    static let dataArea: Range<UInt64> = 0x40000..<0x100000
    let memory: FlatGuestMemory
    let driver: any VirtqueueDriver
    let queue: any Virtqueue

    init(_ format: VirtqueueFormat, size: UInt16 = 16, eventIndex: Bool = false, indirect: Bool = true) throws {
        memory = try FlatGuestMemory(size: 1 << 20)
        switch format {
        case .split:
            driver = try SplitQueueDriver(memory: memory, size: size, ringAddress: Self.ringAddress,
                                          dataArea: Self.dataArea, eventIndex: eventIndex, indirectDescriptors: indirect)
        case .packed:
            driver = try PackedQueueDriver(memory: memory, size: size, ringAddress: Self.ringAddress,
                                           dataArea: Self.dataArea, eventIndex: eventIndex, indirectDescriptors: indirect)
        }
        queue = try makeVirtqueue(driver.configuration, memory: memory)
    }

    var split: SplitQueueDriver { get throws { try #require(driver as? SplitQueueDriver) } }
    var packed: PackedQueueDriver { get throws { try #require(driver as? PackedQueueDriver) } }

    /// A device that answers each request with its readable bytes reversed, as much as fits.
    func serveReversing() throws -> Int {
        var served = 0
        while let element = try queue.pop() {
            let request = try element.readBytes(from: memory)
            let reply = Array(request.reversed().prefix(Int(element.writableLength)))
            try element.write(reply, to: memory)
            try queue.push(element, writtenLength: UInt32(reply.count))
            served += 1
        }
        return served
    }
}

/// Both ring formats, for parameterised tests.
let bothFormats: [VirtqueueFormat] = [.split, .packed]
