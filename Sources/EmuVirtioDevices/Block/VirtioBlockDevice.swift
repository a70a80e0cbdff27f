import BlockLayer
import EmuCore
import EmuVirtio
import Synchronization

/// virtio-blk (virtio 1.2 §5.2) on a BlockLayer ``BlockBackend``: IN, OUT, FLUSH, GET_ID,
/// DISCARD and WRITE_ZEROES on one request queue, requests running concurrently.
///
/// Drained sections (seed 004): the device is the backend's ``BlockDrainObserver``. While a
/// section is open it takes **no** chain from its ring (a kick is remembered, not served); a
/// request taken just before waits in the backend until the section ends. So no guest request
/// runs between the drain and the graph change, and none is lost. When the section ends the
/// device serves whatever the guest queued meanwhile.
///
/// Every value in a request is the guest's: the header must be 16 readable bytes, the status byte
/// the last writable byte, data a multiple of 512 bytes and at most ``maximumTransfer``, sectors
/// inside the disk (overflow checked). A malformed request gets `VIRTIO_BLK_S_IOERR` (or
/// `UNSUPP` for an unknown type); a chain with no room for the status byte needs a reset. After
/// ``reset()`` returns, completions of requests still running are dropped.
public final class VirtioBlockDevice: VirtioDeviceModel, BlockDrainObserver {
    public let deviceType = VirtioDeviceType.block
    public let offeredFeatures: VirtioFeatures
    public let queueMaxSizes: [UInt16]
    public let configSize = 60
    /// The block backend requests go to.
    public let backend: BlockBackend
    private let capacitySectors: UInt64
    private let serial: [UInt8]
    private let state = Mutex(State())

    /// The largest data transfer of one request (bytes).
    public static let maximumTransfer = 4 << 20
    static let sectorSize: UInt64 = 512

    /// Feature bits (§5.2.3).
    public enum Feature {
        public static let sizeMax = VirtioFeatures.bit(1)
        public static let segMax = VirtioFeatures.bit(2)
        public static let readOnly = VirtioFeatures.bit(5)
        public static let blockSize = VirtioFeatures.bit(6)
        public static let flush = VirtioFeatures.bit(9)
        public static let discard = VirtioFeatures.bit(13)
        public static let writeZeroes = VirtioFeatures.bit(14)
    }

    /// Request types and status values.
    public enum Request {
        public static let read: UInt32 = 0, write: UInt32 = 1, flush: UInt32 = 4, getID: UInt32 = 8
        public static let discard: UInt32 = 11, writeZeroes: UInt32 = 13
        public static let ok: UInt8 = 0, ioError: UInt8 = 1, unsupported: UInt8 = 2
    }

    private struct State {
        var epoch: UInt64 = 0
        var context: VirtioDeviceContext?
        var drained = false
        var kickWhileDrained = false
    }

    /// A device for `backend` (whose node length, rounded down to 512 bytes, is the capacity);
    /// `serial` is what GET_ID returns (at most 20 bytes).
    public init(backend: BlockBackend, serial: String = "emu-virtio-blk", queueSize: UInt16 = 256) {
        self.backend = backend
        capacitySectors = backend.node.length / Self.sectorSize
        self.serial = Array(serial.utf8.prefix(20))
        queueMaxSizes = [queueSize]
        var features = VirtioFeatures.ringFeatures.union([Feature.sizeMax, Feature.segMax, Feature.blockSize, Feature.flush,
                                                          Feature.discard, Feature.writeZeroes])
        if backend.isReadOnly { features.insert(Feature.readOnly) }
        offeredFeatures = features
        backend.setDrainObserver(self)
    }

    public func readConfig(offset: Int, size: Int) -> UInt32 {
        var config = [UInt8](repeating: 0, count: configSize)
        func put(_ value: UInt64, at o: Int, _ n: Int) { for i in 0..<n { config[o + i] = UInt8((value >> (8 * UInt64(i))) & 0xFF) } }
        put(capacitySectors, at: 0, 8)
        put(UInt64(Self.maximumTransfer), at: 8, 4)      // size_max
        put(UInt64(queueMaxSizes[0]) - 2, at: 12, 4)     // seg_max: the ring less header and status
        put(Self.sectorSize, at: 20, 4)                   // blk_size
        put(1, at: 34, 2)                                  // num_queues
        put(UInt64(Self.maximumTransfer) / Self.sectorSize, at: 36, 4)  // max_discard_sectors
        put(1, at: 40, 4)                                  // max_discard_seg
        put(1, at: 44, 4)                                  // discard_sector_alignment
        put(UInt64(Self.maximumTransfer) / Self.sectorSize, at: 48, 4)  // max_write_zeroes_sectors
        put(1, at: 52, 4)                                  // max_write_zeroes_seg
        return (0..<size).reduce(UInt32(0)) { $0 | UInt32(config[offset + $1]) << (8 * UInt32($1)) }
    }

    public func start(_ context: VirtioDeviceContext) {
        state.withLock { s in
            s.epoch &+= 1
            s.context = context
        }
    }

    public func reset() {
        state.withLock { s in
            s.epoch &+= 1
            s.context = nil
            s.kickWhileDrained = false
        }
    }

    // MARK: BlockDrainObserver

    public func drainedBegin() {
        state.withLock { $0.drained = true }
    }

    public func drainedEnd() {
        let kicked = state.withLock { s -> Bool in
            s.drained = false
            defer { s.kickWhileDrained = false }
            return s.kickWhileDrained
        }
        if kicked { queueNotified(0) }
    }

    // MARK: Requests

    public func queueNotified(_ index: Int) {
        // A chain popped just before a drain begins reaches the backend during the section: the
        // backend holds it and runs it after the section, on whatever node is current then.
        state.withLock { s in
            guard index == 0, let ctx = s.context, let handle = ctx.queues[0] else { return }
            guard !s.drained else {
                s.kickWhileDrained = true
                return
            }
            let epoch = s.epoch
            var failure: String?
            handle.withQueue { queue in
                while failure == nil {
                    let element: VirtqueueElement
                    do { guard let e = try queue.pop() else { break }; element = e } catch {
                        failure = "virtio-blk queue: \(error)"
                        break
                    }
                    guard element.writableLength >= 1 else {
                        failure = "virtio-blk: a request without room for its status byte"
                        try? queue.push(element, writtenLength: 0)
                        break
                    }
                    let request = self.parse(element, memory: ctx.memory)
                    Task { await self.perform(request, element: element, epoch: epoch) }
                }
            }
            if let failure { ctx.host.needsReset(because: failure) }
        }
    }

    /// What a chain asks for, checked against the disk; `.fail` carries the status to return.
    enum Parsed: Sendable {
        case read(offset: UInt64, length: Int)
        case write(offset: UInt64, data: [UInt8])
        case flush
        case getID
        case discard(offset: UInt64, length: UInt64)
        case writeZeroes(offset: UInt64, length: UInt64)
        case fail(UInt8)
    }

    func parse(_ element: VirtqueueElement, memory: some GuestMemory) -> Parsed {
        guard element.readableLength >= 16, let header = try? element.readBytes(count: 16, from: memory) else { return .fail(Request.ioError) }
        let type = Self.field(UInt32.self, of: header, at: 0)
        let sector = Self.field(UInt64.self, of: header, at: 8)
        let dataIn = element.writableLength - 1            // IN: data then the status byte
        let dataOut = element.readableLength - 16          // OUT: data after the header
        func range(_ sector: UInt64, _ bytes: UInt64) -> UInt64? {
            guard bytes % Self.sectorSize == 0, bytes <= UInt64(Self.maximumTransfer),
                  sector <= capacitySectors, bytes / Self.sectorSize <= capacitySectors - sector else { return nil }
            return sector * Self.sectorSize
        }
        switch type {
        case Request.read:
            guard let offset = range(sector, dataIn) else { return .fail(Request.ioError) }
            return .read(offset: offset, length: Int(dataIn))
        case Request.write:
            guard offeredFeatures.contains(Feature.readOnly) == false else { return .fail(Request.ioError) }
            guard let offset = range(sector, dataOut), let data = try? element.readBytes(offset: 16, count: Int(dataOut), from: memory)
            else { return .fail(Request.ioError) }
            return .write(offset: offset, data: data)
        case Request.flush:
            return .flush
        case Request.getID:
            return dataIn >= 1 ? .getID : .fail(Request.ioError)
        case Request.discard, Request.writeZeroes:
            // Exactly one segment {sector u64, num_sectors u32, flags u32} (max_*_seg = 1).
            guard dataOut == 16, let segment = try? element.readBytes(offset: 16, count: 16, from: memory) else { return .fail(Request.ioError) }
            let start = Self.field(UInt64.self, of: segment, at: 0)
            let count = UInt64(Self.field(UInt32.self, of: segment, at: 8))
            guard let offset = range(start, count * Self.sectorSize) else { return .fail(Request.ioError) }
            return type == Request.discard ? .discard(offset: offset, length: count * Self.sectorSize)
                                           : .writeZeroes(offset: offset, length: count * Self.sectorSize)
        default:
            return .fail(Request.unsupported)
        }
    }

    /// The little-endian integer at `offset` of a request's bytes; the caller has checked that
    /// `bytes` holds it.
    private static func field<T: FixedWidthInteger>(_: T.Type, of bytes: [UInt8], at offset: Int) -> T {
        bytes[offset..<offset + T.bitWidth / 8].reversed().reduce(T.zero) { $0 << 8 | T($1) }
    }

    private func perform(_ request: Parsed, element: VirtqueueElement, epoch: UInt64) async {
        var data: [UInt8] = []
        var status = Request.ok
        do throws(BlockError) {
            switch request {
            case .read(let offset, let length): data = try await backend.read(at: offset, count: length)
            case .write(let offset, let bytes): try await backend.write(bytes, at: offset)
            case .flush: try await backend.flush()
            case .discard(let offset, let length): try await backend.discard(at: offset, length: length)
            case .writeZeroes(let offset, let length): try await backend.writeZeroes(at: offset, length: length)
            case .getID:
                data = Array((serial + [UInt8](repeating: 0, count: 20)).prefix(Int(min(element.writableLength - 1, 20))))
            case .fail(let s):
                status = s
            }
        } catch .unsupported {
            status = Request.unsupported
        } catch {
            status = Request.ioError
        }
        complete(element, data: data, status: status, epoch: epoch)
    }

    /// Writes the data and status into the chain and returns it; under the device lock so that a
    /// reset that returned has stopped all guest-memory writes.
    private func complete(_ element: VirtqueueElement, data: [UInt8], status: UInt8, epoch: UInt64) {
        state.withLock { s in
            guard s.epoch == epoch, let ctx = s.context, let handle = ctx.queues[0] else { return }
            let statusOffset = element.writableLength - 1
            // The used length covers the whole writable part: the status byte is its last byte.
            var written = UInt32(clamping: element.writableLength)
            do {
                if !data.isEmpty { try element.write(data, to: ctx.memory) }
                try element.write([status], offset: statusOffset, to: ctx.memory)
            } catch {
                written = 0
            }
            let interrupt = handle.withQueue { queue -> Bool in
                try? queue.push(element, writtenLength: written)
                return queue.shouldInterrupt()
            }
            if interrupt { ctx.host.usedBuffers(queue: 0) }
        }
    }
}
