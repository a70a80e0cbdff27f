import EmuCore
import EmuVirtio
import NinePServer
import Synchronization

/// Why a virtio-9p device could not be made.
public enum VirtioNinePDeviceError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The mount tag is empty, longer than 255 bytes, or contains NUL.
    case invalidMountTag(String)

    public var description: String {
        switch self {
        case .invalidMountTag(let t): return "invalid 9P mount tag \"\(t)\" (1 to 255 bytes, no NUL)"
        }
    }
}

/// virtio-9p (virtio 1.2 §5.21 draft, as Linux's `9pnet_virtio` drives it): one request queue;
/// each chain's readable part holds one 9P request frame and its writable part receives the
/// reply. Requests run on a ``NinePSession`` over `backend`, concurrently.
///
/// Seed 000: a request cancelled by Tflush (or abandoned by Tversion) gets **no reply**: its
/// chain is returned as a used element of length 0, never filled with an Rlerror; used elements
/// leave in the order the session decides (a flushed request before its Rflush).
///
/// A driver that breaks the framing (a chain shorter than a 9P header, a size field beyond the
/// chain, a reply buffer too small for the reply) makes the device need a reset. A second
/// request with a tag still in flight is answered Rlerror(EINVAL) in its own chain.
/// After ``reset()`` returns, replies of requests still running are dropped: nothing more is
/// written to guest memory.
public final class VirtioNinePDevice: VirtioDeviceModel {
    public let deviceType = VirtioDeviceType.ninePTransport
    public let offeredFeatures = VirtioFeatures.ringFeatures.union(VirtioNinePDevice.mountTagFeature)
    public let queueMaxSizes: [UInt16]
    public var configSize: Int { config.count }
    /// The file system served.
    public let backend: any FileSystemBackend
    /// The largest msize the device agrees to.
    public let msizeCeiling: UInt32
    private let config: [UInt8]
    private let state = Mutex(State())

    /// `VIRTIO_9P_MOUNT_TAG` (bit 0): the configuration space holds the mount tag.
    public static let mountTagFeature = VirtioFeatures.bit(0)

    private struct State {
        var epoch: UInt64 = 0
        var running: Running?
    }

    private struct Running {
        let context: VirtioDeviceContext
        let session: NinePSession
        /// Chains whose request the session holds, by tag.
        var pending: [UInt16: VirtqueueElement] = [:]
    }

    /// A device with mount tag `mountTag` (what `mount -t 9p -o trans=virtio TAG` names).
    /// - Throws: ``VirtioNinePDeviceError/invalidMountTag(_:)``.
    public init(mountTag: String, backend: any FileSystemBackend, msizeCeiling: UInt32 = 512 * 1024,
                queueSize: UInt16 = 128) throws(VirtioNinePDeviceError) {
        let tag = Array(mountTag.utf8)
        guard (1...255).contains(tag.count), !tag.contains(0) else { throw .invalidMountTag(mountTag) }
        config = [UInt8(tag.count), 0] + tag  // le16 tag_len, then the tag (no NUL)
        self.backend = backend
        self.msizeCeiling = msizeCeiling
        queueMaxSizes = [queueSize]
    }

    public func readConfig(offset: Int, size: Int) -> UInt32 {
        (0..<size).reduce(UInt32(0)) { $0 | UInt32(config[offset + $1]) << (8 * UInt32($1)) }
    }

    public func start(_ context: VirtioDeviceContext) {
        state.withLock { s in
            s.epoch &+= 1
            let epoch = s.epoch
            let session = NinePSession(backend: backend, msizeCeiling: msizeCeiling) { [weak self] output in
                self?.deliver(output, epoch: epoch)
            }
            s.running = Running(context: context, session: session)
        }
    }

    public func reset() {
        let old = state.withLock { s -> NinePSession? in
            s.epoch &+= 1
            defer { s.running = nil }
            return s.running?.session
        }
        if let old { Task { await old.close() } }  // releases fids; its outputs are dropped
    }

    public func queueNotified(_ index: Int) {
        // Lock order: the device's state, then the queue.
        let (session, frames) = state.withLock { s -> (NinePSession?, [[UInt8]]) in
            // Taken out and put back, so adding to `pending` does not copy the dictionary.
            guard index == 0, var running = s.running.take() else { return (nil, []) }
            defer { s.running = running }
            guard let handle = running.context.queues[0] else { return (nil, []) }
            let memory = running.context.memory
            var frames: [[UInt8]] = []
            var failure: String?
            handle.withQueue { queue in
                while failure == nil {
                    let element: VirtqueueElement
                    do { guard let e = try queue.pop() else { break }; element = e } catch {
                        failure = "virtio-9p queue: \(error)"
                        break
                    }
                    switch Self.frame(of: element, ceiling: msizeCeiling, memory: memory) {
                    case .failure(let error):
                        failure = error.why
                    case .success(let (tag, frame)):
                        if running.pending[tag] != nil {
                            failure = Self.answer(element, tag: tag, .lerror(errno: UInt32(NinePError.invalid.errno)),
                                                  queue: queue, memory: memory)
                        } else {
                            running.pending[tag] = element
                            frames.append(frame)
                        }
                    }
                }
                if queue.shouldInterrupt() { running.context.host.usedBuffers(queue: 0) }
            }
            if let failure {
                running.context.host.needsReset(because: failure)
                return (nil, [])
            }
            return (running.session, frames)
        }
        // Outside the locks: the session may answer at once (Tversion, Rflush), through deliver.
        for frame in frames { session?.receive(frame) }
    }

    /// The request frame in a chain's readable part, checked against the chain.
    private static func frame(of element: VirtqueueElement, ceiling: UInt32, memory: some GuestMemory) -> Result<(UInt16, [UInt8]), FrameError> {
        let header = NineP.headerSize
        guard element.readableLength >= UInt64(header), let head = try? element.readBytes(count: header, from: memory) else {
            return .failure(FrameError("virtio-9p: a chain of \(element.readableLength) readable bytes holds no 9P header"))
        }
        let size = UInt32(head[0]) | UInt32(head[1]) << 8 | UInt32(head[2]) << 16 | UInt32(head[3]) << 24
        let tag = UInt16(head[5]) | UInt16(head[6]) << 8
        // Bounded by the msize ceiling before anything is allocated: the size is the guest's.
        guard size >= UInt32(header), size <= ceiling, UInt64(size) <= element.readableLength,
              let frame = try? element.readBytes(count: Int(size), from: memory)
        else { return .failure(FrameError("virtio-9p: frame size \(size) does not fit its chain of \(element.readableLength) bytes or the msize ceiling \(ceiling)")) }
        return .success((tag, frame))
    }

    private struct FrameError: Error { let why: String; init(_ why: String) { self.why = why } }

    /// Writes `reply` into `element` and returns it used; a failure description if it does not fit.
    private static func answer(_ element: VirtqueueElement, tag: UInt16, _ reply: RMessage, queue: any Virtqueue,
                               memory: some GuestMemory) -> String? {
        guard let frame = try? NineP.encodeReply(tag: tag, reply) else { return "virtio-9p: reply does not encode" }
        return place(frame, in: element, queue: queue, memory: memory)
    }

    private static func place(_ frame: [UInt8], in element: VirtqueueElement, queue: any Virtqueue,
                              memory: some GuestMemory) -> String? {
        do {
            try element.write(frame, to: memory)
            try queue.push(element, writtenLength: UInt32(frame.count))
            return nil
        } catch let error as ChainAccessError {
            try? queue.push(element, writtenLength: 0)
            return "virtio-9p: reply of \(frame.count) bytes: \(error)"
        } catch {
            return "virtio-9p: \(error)"
        }
    }

    /// A session output: the reply goes into its request's chain, a no-reply returns the chain
    /// with length 0. Runs under the state lock so that a reset cannot overtake it.
    private func deliver(_ output: NinePOutput, epoch: UInt64) {
        state.withLock { s in
            guard s.epoch == epoch, let context = s.running?.context, let handle = context.queues[0] else { return }
            let element: VirtqueueElement?, frame: [UInt8]?
            switch output {
            case .reply(let tag, let reply): (element, frame) = (s.running?.pending.removeValue(forKey: tag), reply)
            case .noReply(let tag): (element, frame) = (s.running?.pending.removeValue(forKey: tag), nil)
            case .protocolViolation(let why): return context.host.needsReset(because: "virtio-9p: \(why)")
            }
            guard let element else { return }
            // One queue lock for the push and the interrupt check.
            let (failure, interrupt) = handle.withQueue { queue -> (String?, Bool) in
                var failure: String?
                if let frame {
                    failure = Self.place(frame, in: element, queue: queue, memory: context.memory)
                } else {
                    do { try queue.push(element, writtenLength: 0) } catch { failure = "virtio-9p: \(error)" }
                }
                return (failure, failure == nil && queue.shouldInterrupt())
            }
            if let failure { context.host.needsReset(because: failure) } else if interrupt { context.host.usedBuffers(queue: 0) }
        }
    }
}
