import EmuCore
import Synchronization

/// A National Semiconductor 16550A UART, the PC's COM port (COM1: ports 0x3F8–0x3FF, ISA IRQ 4),
/// connected to a ``SerialHostSide``.
///
/// Modelled: the receive and transmit FIFOs of 16 bytes (1 byte with FIFOs off) with receive
/// trigger levels 1, 4, 8 and 14; RBR/THR; IER; IIR with the 16550's priority order (receiver
/// line status, received data available, character timeout, THR empty, modem status) and its
/// FIFO bits; FCR (enable, clear each FIFO, trigger level); LCR with the divisor latch access
/// bit; the divisor latch; MCR with loopback (THR to RBR, RTS→CTS, DTR→DSR, OUT1→RI, OUT2→DCD,
/// host input held back) and OUT2 gating the interrupt onto the bus, as PC boards wire it (so
/// no interrupt leaves the chip in loopback, where OUT2 is forced inactive); LSR (data ready,
/// overrun, THR empty, transmitter empty); MSR with its delta bits (outside loopback the host
/// side shows DCD, DSR and CTS asserted); the scratch register. The character timeout fires
/// after four character times (10 bits each at 115200 / divisor baud) on the injected clock.
///
/// Transmission takes no time: a byte written to THR goes to the host side at once when it has
/// room. When the host side's bounded buffer is full, bytes wait in the transmit FIFO (THRE
/// clear, so the guest's driver waits); a byte written to a full FIFO is lost, as on the chip.
/// Received bytes are taken from the host side only while the receive FIFO has room, so input
/// is never dropped. Left out: baud-rate timing of transmission, parity, framing and break
/// (never happen on a virtual line), the 16750's 64-byte FIFO and auto flow control.
public final class SerialPort: PortIODevice, SerialPortClient {
    public let name: String
    /// The interrupt output after the OUT2 gate (ISA IRQ 4 for COM1).
    public let irq: IRQLine
    /// The clock the character timeout is measured on.
    public let clock: any EmuClock
    public let portRanges: [PortRange]
    private let host: (any SerialHostSide)?
    private let state = Mutex<UARTState>(UARTState())
    private let timeoutTimer = Mutex<LoopTimer?>(nil)

    /// The UART's input clock divided by 16: the baud rate of divisor 1.
    public static let baseBaudRate: UInt64 = 115_200

    /// Creates the UART and connects `host` to it.
    /// - Parameters:
    ///   - base: the first of its eight ports (aligned down to a multiple of 8); COM1 is 0x3F8.
    ///   - clock: the machine's clock, for the character timeout.
    ///   - loop: the loop whose timer signals the character timeout.
    ///   - irq: the interrupt line (COM1: ISA IRQ 4).
    ///   - host: where output goes and input comes from; `nil` drops output and never receives.
    public init(name: String = "serial0", base: UInt16 = 0x3F8, clock: any EmuClock, loop: EventLoop,
                irq: IRQLine, host: (any SerialHostSide)?) {
        self.name = name
        self.irq = irq
        self.clock = clock
        self.host = host
        self.portRanges = [.fixed(base & 0xFFF8, 8)]
        let timer = loop.makeTimer(on: clock) { [weak self] in self?.characterTimeout() }
        timeoutTimer.withLock { $0 = timer }
        host?.connect(self)
    }

    public func readPort(_ port: UInt16) -> UInt8 {
        let (value, roomAppeared) = state.withLock { state -> (UInt8, Bool) in
            defer { updateIRQ(state) }
            return state.read(Int(port & 7))
        }
        if port & 7 == 0 { rxActivity() }
        if roomAppeared { host?.receiveSpaceAvailable() }
        return value
    }

    public func writePort(_ port: UInt16, value: UInt8) {
        let roomAppeared = state.withLock { state -> Bool in
            defer { updateIRQ(state) }
            let room = state.write(Int(port & 7), value)
            drain(&state)
            return room
        }
        if roomAppeared { host?.receiveSpaceAvailable() }
        rxActivity()
    }

    public func receiveFromHost(_ bytes: ArraySlice<UInt8>) -> Int {
        let taken = state.withLock { state -> Int in
            defer { updateIRQ(state) }
            return state.receive(bytes, fromHost: true)
        }
        if taken > 0 { rxActivity() }
        return taken
    }

    public func hostReadyForOutput() {
        state.withLock { state in
            drain(&state)
            updateIRQ(state)
        }
    }

    /// Master reset: registers to their reset values, FIFOs emptied; the divisor latch and the
    /// scratch register keep their contents, as on the chip.
    public func reset(_ kind: ResetKind) {
        state.withLock { state in
            state.reset()
            updateIRQ(state)
        }
        timeoutTimer.withLock { $0?.cancel() }
        host?.receiveSpaceAvailable()
    }

    /// Sends what the transmit FIFO holds to the host side, as far as it takes it.
    private func drain(_ state: inout UARTState) {
        guard !state.tx.isEmpty else { return }
        let taken = host.map { min($0.send(state.tx[...]), state.tx.count) } ?? state.tx.count
        state.tx.removeFirst(max(0, taken))
        if state.tx.isEmpty { state.threPending = true }
    }

    private func updateIRQ(_ state: UARTState) {
        irq.set(state.interruptID != 0x01 && state.mcr & 0x18 == 0x08)
    }

    /// Restarts the character-timeout wait after receive activity.
    private func rxActivity() {
        let (armed, interval) = state.withLock { state in
            (state.fifoEnabled && !state.rx.isEmpty, state.characterTime)
        }
        timeoutTimer.withLock { timer in
            if armed { timer?.arm(after: interval &* 4) } else { timer?.cancel() }
        }
    }

    private func characterTimeout() {
        state.withLock { state in
            if state.fifoEnabled && !state.rx.isEmpty { state.timeoutPending = true }
            updateIRQ(state)
        }
    }
}

/// The 16550A's registers.
struct UARTState {
    var rx: [UInt8] = []
    var tx: [UInt8] = []
    var ier: UInt8 = 0
    var lcr: UInt8 = 0
    var mcr: UInt8 = 0
    var scratch: UInt8 = 0
    var divisor: UInt16 = 12
    var fifoEnabled = false
    var triggerLevel = 1
    /// LSR's error bits (overrun 0x02), cleared by reading LSR.
    var lineErrors: UInt8 = 0
    /// MSR: lines (bits 7:4) and deltas (3:0).
    var msr: UInt8 = UARTState.hostLines
    var threPending = false
    var timeoutPending = false
    /// The host side was refused input and waits to be told of room.
    var hostWaiting = false

    /// DCD, DSR and CTS asserted: a connected line.
    static let hostLines: UInt8 = 0xB0

    var capacity: Int { fifoEnabled ? 16 : 1 }
    var loopback: Bool { mcr & 0x10 != 0 }
    var dlab: Bool { lcr & 0x80 != 0 }

    /// Nanoseconds per 10-bit character at the programmed rate.
    var characterTime: UInt64 {
        10 * 1_000_000_000 * UInt64(max(divisor, 1)) / SerialPort.baseBaudRate
    }

    var interruptID: UInt8 {
        if ier & 0x04 != 0 && lineErrors & 0x1E != 0 { return 0x06 }
        if ier & 0x01 != 0 && !rx.isEmpty && rx.count >= (fifoEnabled ? triggerLevel : 1) { return 0x04 }
        if ier & 0x01 != 0 && timeoutPending && !rx.isEmpty { return 0x0C }
        if ier & 0x02 != 0 && threPending { return 0x02 }
        if ier & 0x08 != 0 && msr & 0x0F != 0 { return 0x00 }
        return 0x01
    }

    var lineStatus: UInt8 {
        var lsr = lineErrors & 0x1E
        if !rx.isEmpty { lsr |= 0x01 }
        if tx.isEmpty { lsr |= 0x60 }
        return lsr
    }

    mutating func reset() {
        let keptDivisor = divisor, keptScratch = scratch
        self = UARTState()
        divisor = keptDivisor
        scratch = keptScratch
    }

    /// Reads register `offset`; also tells whether receive room appeared for a waiting host.
    mutating func read(_ offset: Int) -> (UInt8, Bool) {
        switch offset {
        case 0:
            if dlab { return (UInt8(divisor & 0xFF), false) }
            guard !rx.isEmpty else { return (0, false) }
            let byte = rx.removeFirst()
            timeoutPending = false
            return (byte, takeRoomNotice())
        case 1: return (dlab ? UInt8(divisor >> 8) : ier, false)
        case 2:
            let id = interruptID
            if id == 0x02 { threPending = false }
            return (id | (fifoEnabled ? 0xC0 : 0), false)
        case 3: return (lcr, false)
        case 4: return (mcr, false)
        case 5:
            let lsr = lineStatus
            lineErrors = 0
            return (lsr, false)
        case 6:
            let value = msr
            msr &= 0xF0
            return (value, false)
        default: return (scratch, false)
        }
    }

    /// Writes register `offset`; returns whether receive room appeared for a waiting host.
    mutating func write(_ offset: Int, _ value: UInt8) -> Bool {
        switch offset {
        case 0:
            if dlab {
                divisor = divisor & 0xFF00 | UInt16(value)
            } else if loopback {
                _ = receive([value][...], fromHost: false)
                threPending = true
            } else {
                if tx.count < capacity { tx.append(value) }
                threPending = false
            }
        case 1:
            if dlab {
                divisor = divisor & 0x00FF | UInt16(value) << 8
            } else {
                let enabledTHRE = value & 0x02 != 0 && ier & 0x02 == 0
                ier = value & 0x0F
                if enabledTHRE && tx.isEmpty { threPending = true }
                if ier & 0x02 == 0 { threPending = false }
            }
        case 2:
            let enable = value & 0x01 != 0
            if enable != fifoEnabled {
                rx.removeAll()
                tx.removeAll()
                timeoutPending = false
            }
            fifoEnabled = enable
            if enable {
                if value & 0x02 != 0 { rx.removeAll(); timeoutPending = false }
                if value & 0x04 != 0 { tx.removeAll() }
                triggerLevel = [1, 4, 8, 14][Int(value >> 6)]
            }
            if tx.isEmpty && ier & 0x02 != 0 { threPending = true }
            return takeRoomNotice()
        case 3: lcr = value
        case 4:
            let wasLoopback = loopback
            mcr = value & 0x1F
            setModemLines(loopback ? loopbackLines : Self.hostLines)
            if wasLoopback && !loopback { return takeRoomNotice() }
        case 7: scratch = value
        default: break  // LSR and MSR are read-only here
        }
        return false
    }

    /// MSR lines in loopback: CTS←RTS, DSR←DTR, RI←OUT1, DCD←OUT2.
    var loopbackLines: UInt8 {
        (mcr & 0x02 != 0 ? 0x10 : 0) | (mcr & 0x01 != 0 ? 0x20 : 0)
            | (mcr & 0x04 != 0 ? 0x40 : 0) | (mcr & 0x08 != 0 ? 0x80 : 0)
    }

    mutating func setModemLines(_ lines: UInt8) {
        let old = msr & 0xF0
        var deltas = msr & 0x0F
        let changed = old ^ lines
        if changed & 0x10 != 0 { deltas |= 0x01 }
        if changed & 0x20 != 0 { deltas |= 0x02 }
        if old & 0x40 != 0 && lines & 0x40 == 0 { deltas |= 0x04 }  // trailing edge of RI
        if changed & 0x80 != 0 { deltas |= 0x08 }
        msr = lines | deltas
    }

    /// Puts received bytes in the FIFO. From the host: as many as fit (none in loopback, where
    /// the line is disconnected), the host told later if it was refused. From loopback: a byte
    /// that does not fit is an overrun.
    mutating func receive(_ bytes: ArraySlice<UInt8>, fromHost: Bool) -> Int {
        let room = loopback && fromHost ? 0 : max(0, capacity - rx.count)
        let taken = min(room, bytes.count)
        rx.append(contentsOf: bytes.prefix(taken))
        if taken > 0 { timeoutPending = false }
        if taken < bytes.count {
            if fromHost { hostWaiting = true } else { lineErrors |= 0x02 }
        }
        return taken
    }

    private mutating func takeRoomNotice() -> Bool {
        guard hostWaiting, !loopback, rx.count < capacity else { return false }
        hostWaiting = false
        return true
    }
}
