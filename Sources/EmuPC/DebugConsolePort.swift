import EmuCore
import Synchronization

/// The ISA debug console (QEMU's `isa-debugcon` behaviour, and Bochs' port 0xE9 hack): one I/O
/// port; every byte the guest writes goes to the host's output, a read returns 0xE9 so firmware
/// can detect it. Output is line-buffered: delivered at each newline and on reset.
public final class DebugConsolePort: Device, MMIOHandler {
    public let name: String
    /// Byte accesses only, as on the ISA bus.
    public var accessSizes: MMIOAccessSizes { .bytes }
    private let output: @Sendable ([UInt8]) -> Void
    private let pending = Mutex<[UInt8]>([])
    /// Lines longer than this are delivered in pieces, so a guest cannot grow the buffer.
    static let maxLine = 4096

    /// Creates the port; `output` receives each completed line (with its newline).
    public init(name: String = "debugcon", output: @escaping @Sendable ([UInt8]) -> Void) {
        self.name = name
        self.output = output
    }

    public func read(offset: UInt64, size: Int) -> UInt64 { 0xE9 }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        let line: [UInt8]? = pending.withLock { pending in
            pending.append(UInt8(truncatingIfNeeded: value))
            guard value & 0xFF == 0x0A || pending.count >= Self.maxLine else { return nil }
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        if let line { output(line) }
    }

    /// Delivers what is buffered, then forgets it.
    public func reset(_ kind: ResetKind) {
        let rest = pending.withLock { pending in
            defer { pending.removeAll() }
            return pending
        }
        if !rest.isEmpty { output(rest) }
    }
}
