/// A command typed at an interactive console after the escape character.
public enum SerialEscapeCommand: Sendable, Equatable {
    /// Escape then `x`: quit the emulator.
    case quit
    /// Escape then `h`: show the escape commands.
    case help
}

/// Finds QEMU-style escape sequences in console input (Ctrl-A by default): Ctrl-A `x` quits,
/// Ctrl-A `h` asks for help, Ctrl-A Ctrl-A sends one Ctrl-A to the guest; Ctrl-A followed by
/// any other byte sends both bytes on. Everything else passes through unchanged.
///
/// The filter keeps one byte of state (an escape seen at the end of the last chunk), so it
/// works on input split anywhere; its output is never more than one byte longer than its input.
public struct SerialEscapeFilter: Sendable {
    /// The escape byte (Ctrl-A, 0x01).
    public let escape: UInt8
    private var escapePending = false

    /// A filter for `escape` (default Ctrl-A).
    public init(escape: UInt8 = 0x01) { self.escape = escape }

    /// Filters one chunk of input: the bytes for the guest and the commands found, in order.
    public mutating func filter(_ input: some Sequence<UInt8>) -> (bytes: [UInt8], commands: [SerialEscapeCommand]) {
        var bytes: [UInt8] = []
        var commands: [SerialEscapeCommand] = []
        for byte in input {
            guard escapePending else {
                if byte == escape { escapePending = true } else { bytes.append(byte) }
                continue
            }
            escapePending = false
            switch byte {
            case UInt8(ascii: "x"), UInt8(ascii: "X"): commands.append(.quit)
            case UInt8(ascii: "h"), UInt8(ascii: "H"): commands.append(.help)
            case escape: bytes.append(escape)
            default: bytes.append(contentsOf: [escape, byte])
            }
        }
        return (bytes, commands)
    }

    /// The text a launcher can show for ``SerialEscapeCommand/help``.
    public static let helpText = "C-a x    exit\r\nC-a h    this help\r\nC-a C-a  send C-a\r\n"
}
