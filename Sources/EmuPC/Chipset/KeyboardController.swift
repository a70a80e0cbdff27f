import EmuCore
import Synchronization

/// The PC's Intel 8042 keyboard controller at ports 0x60 (data) and 0x64 (status and
/// command), as a machine with no keyboard and no mouse attached has it: enough for Linux's
/// i8042 driver to find the controller, see that no device answers, and use the reset line.
///
/// Modelled: the status register (output buffer full, system flag, command/data, keyboard
/// not inhibited, auxiliary data), the command byte (0x20 read, 0x60 write; bit 0 enables IRQ 1,
/// bit 2 is the system flag, bits 4–5 disable the ports), controller self-test (0xAA → 0x55),
/// interface tests (0xAB → 0x00 for the keyboard; 0xA9 → 0x01, "clock line stuck low", so
/// Linux decides there is no auxiliary port without `i8042.noaux`), 0xA7/0xA8 and 0xAD/0xAE
/// (disable/enable the ports), 0xC0/0xD0 (input and output port), 0xD1 (write output port:
/// bit 0 clear resets the CPU, bit 1 is A20), 0xD2 (echo into the output buffer as keyboard
/// data), 0xD3 (echo as keyboard data, not auxiliary data, which Linux's loop test reads as "no
/// auxiliary port" without waiting for a timeout), 0xD4 (to the absent mouse: answered with a
/// timeout), 0xFE and the other 0xF0–0xFF pulses (bit 0 clear resets the CPU). A byte written
/// to port 0x60 for the keyboard is answered at once with 0xFF and the status's timeout bit,
/// as a controller with nothing on its cable does, raising IRQ 1 when it is enabled.
///
/// Left out: a keyboard, a mouse, scan codes, the keyboard lock and password commands.
public final class KeyboardController: PortIODevice {
    public let name: String
    /// ISA IRQ 1: high while keyboard data waits in the output buffer and IRQ 1 is enabled.
    public let keyboardIRQ: IRQLine
    private let requestReset: @Sendable () -> Void
    private let state = Mutex<State>(State())

    public let portRanges: [PortRange] = [.fixed(0x60), .fixed(0x64)]

    /// The output buffer holds at most this many bytes; more are dropped.
    static let outputLimit = 16

    struct State {
        var output: [UInt8] = []
        var outputIsAux = false
        var commandByte: UInt8 = 0x50  // ports' interrupts off, keyboard translation
        var pendingCommand: UInt8?
        var lastWasCommand = false
        var timeout = false
        var selfTested = false
        var outputPort: UInt8 = 0x03   // reset line inactive (high), A20 on
    }

    /// Creates the controller.
    /// - Parameters:
    ///   - keyboardIRQ: ISA IRQ 1.
    ///   - requestReset: called (outside this device's lock) when the guest pulses the reset
    ///     line; the machine resets its CPU.
    public init(name: String = "i8042", keyboardIRQ: IRQLine, requestReset: @escaping @Sendable () -> Void) {
        self.name = name
        self.keyboardIRQ = keyboardIRQ
        self.requestReset = requestReset
    }

    /// Whether the guest has A20 enabled through the output port.
    public var a20Enabled: Bool { state.withLock { $0.outputPort & 0x02 != 0 } }

    public func readPort(_ port: UInt16) -> UInt8 {
        state.withLock { state in
            if port == 0x64 {
                var status: UInt8 = 0x10  // keyboard not inhibited
                if !state.output.isEmpty { status |= 0x01 }
                if state.commandByte & 0x04 != 0 || state.selfTested { status |= 0x04 }
                if state.lastWasCommand { status |= 0x08 }
                if state.outputIsAux && !state.output.isEmpty { status |= 0x20 }
                if state.timeout { status |= 0x40 }
                return status
            }
            guard !state.output.isEmpty else { return 0 }
            let byte = state.output.removeFirst()
            if state.output.isEmpty {
                state.outputIsAux = false
                state.timeout = false
            }
            updateIRQ(state)
            return byte
        }
    }

    public func writePort(_ port: UInt16, value: UInt8) {
        let reset = state.withLock { state -> Bool in
            defer { updateIRQ(state) }
            if port == 0x64 {
                state.lastWasCommand = true
                return command(value, &state)
            }
            state.lastWasCommand = false
            guard let pending = state.pendingCommand else {
                // For the keyboard, which is not there: the controller times out.
                push(0xFF, &state)
                state.timeout = true
                return false
            }
            state.pendingCommand = nil
            switch pending {
            case 0x60:
                state.commandByte = value
            case 0xD1:
                state.outputPort = value
                return value & 1 == 0
            case 0xD2, 0xD3:
                push(value, &state)
            case 0xD4:
                push(0xFF, &state)
                state.timeout = true
            default: break
            }
            return false
        }
        if reset { requestReset() }
    }

    /// Returns to power-on state (command byte 0x50, empty buffer).
    public func reset(_ kind: ResetKind) {
        state.withLock { state in
            state = State()
            updateIRQ(state)
        }
    }

    /// Runs a controller command; returns whether it pulses the reset line.
    private func command(_ value: UInt8, _ state: inout State) -> Bool {
        switch value {
        case 0x20: push(state.commandByte, &state)
        case 0x60, 0xD1, 0xD2, 0xD3, 0xD4: state.pendingCommand = value
        case 0xA7: state.commandByte |= 0x20
        case 0xA8: state.commandByte &= ~0x20
        case 0xA9: push(0x01, &state)
        case 0xAA:
            state.selfTested = true
            state.commandByte |= 0x04
            push(0x55, &state)
        case 0xAB: push(0x00, &state)
        case 0xAD: state.commandByte |= 0x10
        case 0xAE: state.commandByte &= ~0x10
        case 0xC0: push(0x80, &state)  // keyboard not locked
        case 0xD0: push(state.outputPort, &state)
        case 0xF0...0xFF: return value & 1 == 0
        default: break
        }
        return false
    }

    private func push(_ byte: UInt8, _ state: inout State) {
        guard state.output.count < Self.outputLimit else { return }
        state.output.append(byte)
        state.outputIsAux = false
    }

    private func updateIRQ(_ state: State) {
        keyboardIRQ.set(!state.output.isEmpty && state.commandByte & 0x01 != 0)
    }
}
