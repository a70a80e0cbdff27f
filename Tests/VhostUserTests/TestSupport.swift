import Dispatch
import Synchronization
import EmuCore
import EmuVirtio
import EmuVirtioTesting
import Testing
@_spi(Testing) import VhostUser
#if canImport(Glibc)
import Glibc
#endif

/// A connected pair of Unix stream sockets.
func socketPair() throws -> (VhostUserSocket, VhostUserSocket) {
    var fds: [Int32] = [-1, -1]
    let rc = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds)
    try #require(rc == 0, "socketpair failed: errno \(errno)")
    return (VhostUserSocket(adopting: fds[0]), VhostUserSocket(adopting: fds[1]))
}

/// Fills each writable buffer with the readable bytes, repeated; returns what it wrote.
struct EchoHandler: VhostUserBackEndHandler {
    var features: VirtioFeatures = [.version1, .eventIndex, .indirectDescriptors]
    var queueCount = 1
    var config: [UInt8] = Array(0..<16)

    func handle(_ element: VirtqueueElement, queue: Int, memory: FlatGuestMemory) -> UInt32 {
        guard let input = try? element.readBytes(count: Int(min(element.readableLength, 4096)), from: memory),
              !input.isEmpty else { return 0 }
        let n = Int(min(element.writableLength, 4096))
        let output = (0..<n).map { input[$0 % input.count] }
        guard (try? element.write(output, to: memory)) != nil else { return 0 }
        return UInt32(n)
    }
}

/// An echo that takes its time: a request the back end is still handling.
struct SlowEchoHandler: VhostUserBackEndHandler {
    var features: VirtioFeatures = [.version1]
    var queueCount = 1
    var config: [UInt8] = []
    var delay: Duration

    func handle(_ element: VirtqueueElement, queue: Int, memory: FlatGuestMemory) -> UInt32 {
        let c = delay.components
        usleep(UInt32(c.seconds * 1_000_000 + c.attoseconds / 1_000_000_000_000))
        return EchoHandler().handle(element, queue: queue, memory: memory)
    }
}

/// A virtio-blk back end over a RAM disk (IN, OUT, GET_ID), to test vhost-user-blk without peers.
final class RAMDiskHandler: VhostUserBackEndHandler {
    let features: VirtioFeatures = [.version1, .eventIndex, .indirectDescriptors, .bit(6)]
    let queueCount = 1
    let disk: Mutex<[UInt8]>
    let config: [UInt8]

    init(sectors: UInt64) {
        disk = Mutex([UInt8](repeating: 0, count: Int(sectors * 512)))
        var c = [UInt8](repeating: 0, count: 60)
        for i in 0..<8 { c[i] = UInt8((sectors >> (8 * UInt64(i))) & 0xFF) }
        c[20] = 0; c[21] = 2  // blk_size 512
        config = c
    }

    func handle(_ element: VirtqueueElement, queue: Int, memory: FlatGuestMemory) -> UInt32 {
        guard let header = try? element.readBytes(count: 16, from: memory), element.writableLength >= 1 else { return 0 }
        let type = header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 0, as: UInt32.self) }
        let sector = header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self) }
        let statusOffset = element.writableLength - 1
        func finish(_ status: UInt8, _ data: UInt64) -> UInt32 {
            _ = try? element.write([status], offset: statusOffset, to: memory)
            return UInt32(clamping: statusOffset + 1)  // data (or room for it) and the status byte
        }
        let size = UInt64(disk.withLock { $0.count })
        switch type {
        case 0:  // IN
            let n = statusOffset
            guard sector <= size / 512, n <= size - sector * 512 else { return finish(1, 0) }
            let bytes = disk.withLock { Array($0[Int(sector * 512)..<Int(sector * 512 + n)]) }
            guard (try? element.write(bytes, to: memory)) != nil else { return finish(1, 0) }
            return finish(0, n)
        case 1:  // OUT
            let n = element.readableLength - 16
            guard sector <= size / 512, n <= size - sector * 512,
                  let bytes = try? element.readBytes(offset: 16, count: Int(n), from: memory) else { return finish(1, 0) }
            disk.withLock { $0.replaceSubrange(Int(sector * 512)..<Int(sector * 512 + n), with: bytes) }
            return finish(0, 0)
        default:
            return finish(2, 0)
        }
    }
}


/// A guest (memory, MMIO transport, test driver) whose device is a ``VhostUserDevice`` talking
/// to our own ``VhostUserBackEnd`` over a socket pair.
final class VhostRig {
    let memory: FlatGuestMemory
    let backEnd: VhostUserBackEnd
    let device: VhostUserDevice
    let transport: VirtioMMIOTransport
    let driver: VirtioMMIODriver
    let io: IOThread

    /// Back ends made by the reconnector, in order.
    let laterBackEnds = BackEndList()

    final class BackEndList: Sendable {
        private let list = Mutex<[VhostUserBackEnd]>([])
        func withLock<R>(_ body: (inout [VhostUserBackEnd]) -> R) -> R { list.withLock { body(&$0) } }
    }

    init(handler: any VhostUserBackEndHandler, deviceType: VirtioDeviceType = VirtioDeviceType(rawValue: 4),
         configSize: Int = 16, options: VhostUserBackEnd.Options = .init(), timeout: Duration = .seconds(3),
         reconnects: Bool = false) throws {
        memory = try FlatGuestMemory(size: 8 << 20)
        let (front, back) = try socketPair()
        backEnd = try VhostUserBackEnd(socket: back, handler: handler, options: options)
        io = try IOThread(name: "vhost-fe")
        let frontEnd = VhostUserFrontEnd(connection: VhostUserConnection(socket: front, timeout: timeout))
        let later = laterBackEnds
        let reconnector = reconnects ? VhostUserDevice.Reconnector(attempts: 3, delay: .milliseconds(10)) { () throws(VhostUserError) in
            var fds: [Int32] = [-1, -1]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
                throw .disconnected
            }
            let backEnd = try VhostUserBackEnd(socket: VhostUserSocket(adopting: fds[1]), handler: handler, options: options)
            later.withLock { $0.append(backEnd) }
            return VhostUserConnection(socket: VhostUserSocket(adopting: fds[0]), timeout: timeout)
        } : nil
        device = try VhostUserDevice(frontEnd: frontEnd, deviceType: deviceType, configSize: configSize,
                                     regions: VhostUserGuestRegion.regions(of: memory), queueCount: handler.queueCount,
                                     queueSize: 64, loop: io.loop, reconnector: reconnector)
        transport = VirtioMMIOTransport(device: device, memory: memory, interrupt: IRQLine(unconnected: "irq"))
        driver = VirtioMMIODriver(device: transport)
    }

    func initialize(features: VirtioFeatures = [.eventIndex], queues: Int = 1) throws {
        try driver.initialize(features: features, queueSizes: Array(repeating: 64, count: queues), memory: memory,
                              ringArea: 0x10000..<0x800000)
    }

    deinit {
        backEnd.stop()
        laterBackEnds.withLock { $0.forEach { $0.stop() } }
        io.stop()
    }
}

/// Runs blocking work (socket exchanges, a DRIVER_OK write that waits for a slow back end) on a
/// Dispatch thread and awaits it, so the cooperative pool other tests share is not held up.
func offCooperativePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}
