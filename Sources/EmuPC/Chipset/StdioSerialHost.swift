import EmuCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A serial port's host side on the process's terminal (or any pair of fds): input from
/// standard input, output to standard output.
///
/// When the input fd is a terminal it is put in raw mode (no echo, no line editing, no signals
/// from Ctrl-C: every key reaches the guest) and its previous mode is restored by ``close()``.
/// Given an escape handler, input passes through a ``SerialEscapeFilter`` and its commands go
/// to the handler (the launcher decides what Ctrl-A X does).
///
/// Output is buffered up to ``outputLimit`` bytes and then back-pressures the port (the guest
/// sees its transmitter busy) until the terminal takes more; nothing is dropped while the
/// terminal is slow. Input is read only while the port has room.
public final class StdioSerialHost: SerialHostSide {
    /// The most output held for a slow terminal: 64 KiB.
    public static let defaultOutputLimit = 64 << 10
    private let stream: SerialStream
    private let input: Int32
    private let savedMode = Mutex<termios?>(nil)

    /// Opens the host side on `input` and `output` (standard input and output by default).
    /// The fds stay open after ``close()``: they belong to the caller.
    /// - Parameters:
    ///   - rawMode: put a terminal `input` in raw mode until ``close()``.
    ///   - onEscape: if given, input is filtered for Ctrl-A sequences and commands reach it (on
    ///     the loop's thread).
    public init(loop: EventLoop, input: Int32 = STDIN_FILENO, output: Int32 = STDOUT_FILENO,
                rawMode: Bool = true, outputLimit: Int = StdioSerialHost.defaultOutputLimit,
                onEscape: (@Sendable (SerialEscapeCommand) -> Void)? = nil) {
        self.input = input
        if rawMode && isatty(input) == 1 {
            var mode = termios()
            if tcgetattr(input, &mode) == 0 {
                var raw = mode
                cfmakeraw(&raw)
                if tcsetattr(input, TCSANOW, &raw) == 0 { savedMode.withLock { $0 = mode } }
            }
        }
        stream = SerialStream(loop: loop, input: input, output: output, isSocket: false,
                              outputLimit: outputLimit,
                              filter: onEscape == nil ? nil : SerialEscapeFilter(),
                              onCommand: onEscape ?? { _ in })
    }

    /// Whether the terminal was put in raw mode (and will be restored).
    public var isRawMode: Bool { savedMode.withLock { $0 != nil } }

    /// The maximum output buffered.
    public var outputLimit: Int { stream.outputLimit }

    public func connect(_ client: any SerialPortClient) { stream.connect(client) }
    public func send(_ bytes: ArraySlice<UInt8>) -> Int { stream.send(bytes) }
    public func receiveSpaceAvailable() { stream.resumeInput() }

    /// Stops I/O and restores the terminal's mode.
    public func close() {
        stream.stop()
        let mode = savedMode.withLock { saved in
            defer { saved = nil }
            return saved
        }
        if var mode { tcsetattr(input, TCSANOW, &mode) }
    }

    deinit { close() }
}
