import EmuCore
import EmuVirtio
import Synchronization

/// virtio-console with one port (virtio 1.2 §5.3, no `MULTIPORT`): queue 0 carries input to the
/// guest, queue 1 output from it. `VIRTIO_CONSOLE_F_EMERG_WRITE` lets the guest write a byte
/// through configuration space before the queues are up.
///
/// Output is handed to `output` in the order the guest queued it (on the notifying thread).
/// Input waits in a backlog of at most ``backlogLimit`` bytes until the guest offers receive
/// buffers; bytes beyond it are refused (``sendInput(_:)`` says how many were taken).
public final class VirtioConsoleDevice: VirtioDeviceModel {
    public let deviceType = VirtioDeviceType.console
    public let offeredFeatures = VirtioFeatures.ringFeatures.union(VirtioConsoleDevice.emergencyWrite)
    public let queueMaxSizes: [UInt16]
    public let configSize = 12
    private let output: @Sendable ([UInt8]) -> Void
    private let state = Mutex(State())

    /// `VIRTIO_CONSOLE_F_EMERG_WRITE` (bit 2).
    public static let emergencyWrite = VirtioFeatures.bit(2)
    /// The most input bytes held while the guest has no receive buffer.
    public static let backlogLimit = 64 * 1024
    /// The most output bytes taken from one transmit chain.
    public static let maximumOutputPerChain = 64 * 1024

    private struct State {
        var context: VirtioDeviceContext?
        var backlog: [UInt8] = []
    }

    /// A console whose guest output goes to `output`; each queue holds up to `queueSize` entries.
    public init(queueSize: UInt16 = 128, output: @escaping @Sendable ([UInt8]) -> Void) {
        queueMaxSizes = [queueSize, queueSize]
        self.output = output
    }

    public func readConfig(offset: Int, size: Int) -> UInt32 {
        0  // cols, rows, max_nr_ports (unused without their features), emerg_wr (write-only)
    }

    public func writeConfig(offset: Int, size: Int, value: UInt32) {
        if offset == 8, size == 4 || size == 1 { output([UInt8(truncatingIfNeeded: value)]) }
    }

    public func start(_ context: VirtioDeviceContext) {
        state.withLock { $0.context = context }
        deliverInput()
    }

    public func reset() {
        state.withLock { $0 = State() }
    }

    /// Queues `bytes` for the guest; returns how many were taken (the rest did not fit the
    /// backlog). Delivered at once where the guest has receive buffers.
    @discardableResult
    public func sendInput(_ bytes: [UInt8]) -> Int {
        let taken = state.withLock { s -> Int in
            let n = min(bytes.count, Self.backlogLimit - s.backlog.count)
            s.backlog += bytes.prefix(n)
            return n
        }
        deliverInput()
        return taken
    }

    public func queueNotified(_ index: Int) {
        if index == 0 { deliverInput() } else if index == 1 { drainOutput() }
    }

    /// Fills the guest's receive buffers from the backlog.
    private func deliverInput() {
        state.withLock { s in
            guard let ctx = s.context, let handle = ctx.queues[0], !s.backlog.isEmpty else { return }
            var backlog = s.backlog
            s.backlog = []  // so removing from the local copy does not copy it
            let outcome = handle.withQueue { (queue) -> String? in
                do {
                    while !backlog.isEmpty, let element = try queue.pop() {
                        let n = Int(min(UInt64(backlog.count), element.writableLength))
                        var written = UInt32(n)
                        do { try element.write(Array(backlog.prefix(n)), to: ctx.memory) } catch { written = 0 }
                        try queue.push(element, writtenLength: written)
                        if written > 0 { backlog.removeFirst(n) }
                    }
                } catch { return "virtio-console receive queue: \(error)" }
                if queue.shouldInterrupt() { ctx.host.usedBuffers(queue: 0) }
                return nil
            }
            s.backlog = backlog
            if let outcome { ctx.host.needsReset(because: outcome) }
        }
    }

    /// Sends every queued transmit chain to `output`.
    private func drainOutput() {
        guard let ctx = state.withLock({ $0.context }), let handle = ctx.queues[1] else { return }
        var chunks: [[UInt8]] = []
        let failure = handle.withQueue { (queue) -> String? in
            do {
                while let element = try queue.pop() {
                    let n = Int(min(element.readableLength, UInt64(Self.maximumOutputPerChain)))
                    if n > 0, let bytes = try? element.readBytes(count: n, from: ctx.memory) { chunks.append(bytes) }
                    try queue.push(element, writtenLength: 0)
                }
            } catch { return "virtio-console transmit queue: \(error)" }
            if queue.shouldInterrupt() { ctx.host.usedBuffers(queue: 1) }
            return nil
        }
        chunks.forEach(output)
        if let failure { ctx.host.needsReset(because: failure) }
    }
}
