import EmuCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A serial port's host side that writes the guest's output to a file (created, or truncated if
/// it exists) and never has input.
///
/// Output is buffered up to ``outputLimit`` bytes on its way to the file and back-pressures
/// the port beyond that; it is never dropped.
public final class FileSerialHost: SerialHostSide {
    /// The most output held on its way to the file: 64 KiB.
    public static let defaultOutputLimit = 64 << 10
    /// The file written.
    public let path: String
    private let stream: SerialStream
    private let fd: Int32
    private let closed = Atomic<Bool>(false)

    /// Creates or truncates `path` (mode 0644) for the guest's output.
    /// - Throws: ``SystemCallError`` if the file cannot be opened.
    public init(loop: EventLoop, path: String, outputLimit: Int = FileSerialHost.defaultOutputLimit) throws(SystemCallError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SystemCallError.current("open(\(path))") }
        self.path = path
        self.fd = fd
        self.stream = SerialStream(loop: loop, input: nil, output: fd, isSocket: false, outputLimit: outputLimit)
    }

    /// Bytes accepted but not yet written to the file.
    public var bufferedOutput: Int { stream.bufferedOutput }

    public func connect(_ client: any SerialPortClient) { stream.connect(client) }
    public func send(_ bytes: ArraySlice<UInt8>) -> Int { stream.send(bytes) }
    public func receiveSpaceAvailable() {}

    /// Writes out what is still buffered, then closes the file.
    public func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        stream.flush()
        stream.stop()
        Glibc.close(fd)
    }

    deinit { close() }
}
