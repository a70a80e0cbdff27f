import EmuCore
import EmuVirtio
import Synchronization

/// virtio-rng (virtio 1.2 §5.4): one request queue; the device fills each writable buffer with
/// bytes from the host's cryptographic generator. No features, no configuration space.
///
/// Requests are served on the thread that notifies (the vCPU's, with a plain MMIO transport):
/// the work is a bounded copy. A chain's writable part is filled up to ``maximumPerRequest``.
public final class VirtioEntropyDevice: VirtioDeviceModel {
    public let deviceType = VirtioDeviceType.entropy
    public let offeredFeatures = VirtioFeatures.ringFeatures
    public let queueMaxSizes: [UInt16]
    public let configSize = 0
    private let running = Mutex<VirtioDeviceContext?>(nil)

    /// The most bytes one request gets (larger buffers are filled this far).
    public static let maximumPerRequest = 64 * 1024

    /// A device whose queue holds up to `queueSize` descriptors.
    public init(queueSize: UInt16 = 256) {
        queueMaxSizes = [queueSize]
    }

    public func start(_ context: VirtioDeviceContext) {
        running.withLock { $0 = context }
    }

    public func reset() {
        running.withLock { $0 = nil }
    }

    public func queueNotified(_ index: Int) {
        guard index == 0, let ctx = running.withLock({ $0 }), let handle = ctx.queues[0] else { return }
        do throws(VirtqueueError) {
            let interrupt = try handle.withQueue { (queue) throws(VirtqueueError) -> Bool in
                while let element = try queue.pop() {
                    let count = Int(min(element.writableLength, UInt64(Self.maximumPerRequest)))
                    var bytes = [UInt8](repeating: 0, count: count)
                    bytes.withUnsafeMutableBytes { fillRandom($0) }
                    var written = UInt32(count)
                    do { try element.write(bytes, to: ctx.memory) } catch { written = 0 }
                    try queue.push(element, writtenLength: written)
                }
                return queue.shouldInterrupt()
            }
            if interrupt { ctx.host.usedBuffers(queue: 0) }
        } catch {
            ctx.host.needsReset(because: "virtio-rng queue: \(error)")
        }
    }
}

/// Fills `buffer` from the system's cryptographic generator (`getrandom` on Linux).
func fillRandom(_ buffer: UnsafeMutableRawBufferPointer) {
    var generator = SystemRandomNumberGenerator()
    var offset = 0
    while offset < buffer.count {
        var word = generator.next()
        let n = min(8, buffer.count - offset)
        withUnsafeBytes(of: &word) { raw in
            buffer[offset..<offset + n].copyBytes(from: raw[0..<n])
        }
        offset += n
    }
}
