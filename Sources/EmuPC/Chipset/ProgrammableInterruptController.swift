import EmuCore
import Synchronization

/// The PC's pair of Intel 8259A programmable interrupt controllers: a master at ports
/// 0x20/0x21 and a slave at 0xA0/0xA1 cascaded on the master's IR2, with the edge/level control
/// registers (ELCR) of PIIX-era chipsets at 0x4D0/0x4D1. ISA IRQ 0–7 enter the master, 8–15
/// the slave.
///
/// Modelled: ICW1–ICW4 initialisation (vector base, single or cascade, ICW4's automatic EOI and
/// special fully nested mode; ICW1's LTIM makes every input of that chip level-triggered), OCW1
/// masking, OCW2 non-specific, specific and rotating EOI, rotation in automatic-EOI mode and
/// set-priority, OCW3 reads of IRR or ISR, poll mode and special mask mode; per-input edge or
/// level triggering from the ELCR (IRQ 0, 1, 2, 8 and 13 are always edge, as on the chipset);
/// spurious interrupts (acknowledging when nothing is requested gives IRQ 7 of the master, or of
/// the slave when the cascade was requested, without setting an ISR bit, as Linux expects).
///
/// Left out: the 8080/8085 call-address mode (ICW1 bit 2, ICW2's address bits), buffered mode
/// (ICW4 BUF and M/S are stored but change nothing: the cascade is fixed) and any cascade other
/// than the PC's master IR2 / slave ID 2.
///
/// The cascade line from the slave to the master's IR2 is level-sensitive in this model, so the
/// master's request follows the slave's output and never goes stale.
///
/// Output: ``interruptOutput`` (INT) is high while the master has a deliverable request; the
/// machine wires it to the local APIC's LINT0 (ExtINT), which calls ``acknowledge()`` for the
/// vector. Locking: the output line is set while the controller's lock is held, so its sink
/// must not call back into the controller synchronously; call ``acknowledge()`` without holding
/// a lock that the output's sink takes.
public final class ProgrammableInterruptController: PortIODevice {
    public let name: String
    /// INT: high while an unmasked request outranks what is in service.
    public let interruptOutput: IRQLine
    private let state = Mutex<PICPairState>(PICPairState())
    private let lines = Mutex<[Int: IRQLine]>([:])

    /// Master command/data, slave command/data and the two ELCR ports.
    public let portRanges: [PortRange] = [.fixed(0x20, 2), .fixed(0xA0, 2), .fixed(0x4D0, 2)]

    /// Creates the pair in its power-on state (uninitialised, nothing masked, all edge).
    /// - Parameter interruptOutput: the INT pin, to the local APIC's LINT0.
    public init(name: String = "pic", interruptOutput: IRQLine) {
        self.name = name
        self.interruptOutput = interruptOutput
    }

    /// The input line of ISA IRQ `irq` (0–15), the same line on every call. Input 2 is the
    /// cascade: its line, like any number outside 0–15, is connected to nothing.
    public func input(_ irq: Int) -> IRQLine {
        lines.withLock { lines in
            if let line = lines[irq] { return line }
            let line = IRQLine(name: "\(name).irq\(irq)") { [weak self] level in self?.setIRQ(irq, level: level) }
            lines[irq] = line
            return line
        }
    }

    /// Sets the level of ISA IRQ `irq` (0–15); other numbers and the cascade input 2 are ignored.
    public func setIRQ(_ irq: Int, level: Bool) {
        guard (0..<16).contains(irq), irq != 2 else { return }
        state.withLock { pair in
            pair.chips[irq >> 3].setPin(irq & 7, level: level)
            update(&pair)
        }
    }

    /// The interrupt-acknowledge cycle: takes the highest-priority request into service and
    /// returns its vector. With nothing requested it returns the spurious vector of IRQ 7
    /// (master's base + 7), or IRQ 15 when only the cascade was requested, setting no ISR bit
    /// for it.
    public func acknowledge() -> UInt8 {
        state.withLock { pair in
            defer { update(&pair) }
            return pair.acknowledge()
        }
    }

    /// Whether INT is asserted now (a convenience for tests and the LAPIC's polling).
    public var isInterruptPending: Bool { state.withLock { $0.chips[0].highestRequest() != nil } }

    /// The edge/level control bits (bit n = IRQ n level-triggered).
    public var edgeLevelControl: UInt16 {
        state.withLock { UInt16($0.chips[0].levelMask) | UInt16($0.chips[1].levelMask) << 8 }
    }

    public func readPort(_ port: UInt16) -> UInt8 {
        state.withLock { pair in
            defer { update(&pair) }
            switch port {
            case 0x4D0: return pair.chips[0].elcr
            case 0x4D1: return pair.chips[1].elcr
            default:
                let index = port >= 0xA0 ? 1 : 0
                if port & 1 == 1 { return pair.chips[index].imr }
                if pair.chips[index].pollPending {
                    pair.chips[index].pollPending = false
                    return pair.poll(index)
                }
                return pair.chips[index].readISR ? pair.chips[index].isr : pair.chips[index].irr
            }
        }
    }

    public func writePort(_ port: UInt16, value: UInt8) {
        state.withLock { pair in
            switch port {
            case 0x4D0: pair.chips[0].setELCR(value & PICState.masterELCRMask)
            case 0x4D1: pair.chips[1].setELCR(value & PICState.slaveELCRMask)
            default:
                let index = port >= 0xA0 ? 1 : 0
                if port & 1 == 1 {
                    pair.chips[index].writeData(value)
                } else {
                    pair.chips[index].writeCommand(value)
                }
            }
            update(&pair)
        }
    }

    /// Cold and warm reset alike: both chips return to their uninitialised state, ELCR to all
    /// edge. The input levels are kept (they belong to the devices).
    public func reset(_ kind: ResetKind) {
        state.withLock { pair in
            for index in 0..<2 {
                let pins = pair.chips[index].pins
                pair.chips[index] = PICState(isMaster: index == 0)
                pair.chips[index].pins = pins
            }
            update(&pair)
        }
    }

    /// Recomputes the cascade and the INT output. Called with the lock held.
    private func update(_ pair: inout PICPairState) {
        pair.chips[0].setCascade(pair.chips[1].highestRequest() != nil)
        interruptOutput.set(pair.chips[0].highestRequest() != nil)
    }
}

/// Both chips, under one lock.
struct PICPairState {
    var chips = [PICState(isMaster: true), PICState(isMaster: false)]

    mutating func acknowledge() -> UInt8 {
        guard let irq = chips[0].highestRequest() else { return chips[0].vectorBase | 7 }
        chips[0].accept(irq)
        guard irq == 2 else { return chips[0].vectorBase | UInt8(irq) }
        guard let slaveIRQ = chips[1].highestRequest() else { return chips[1].vectorBase | 7 }
        chips[1].accept(slaveIRQ)
        return chips[1].vectorBase | UInt8(slaveIRQ)
    }

    /// The poll word of chip `index`: bit 7 set and the level of the request it accepted, or 0.
    mutating func poll(_ index: Int) -> UInt8 {
        guard let irq = chips[index].highestRequest() else { return 0 }
        chips[index].accept(irq)
        return 0x80 | UInt8(irq)
    }
}

/// One 8259A.
struct PICState {
    /// Chipset-forced edge inputs: IRQ 0, 1, 2 on the master; IRQ 8 and 13 on the slave.
    static let masterELCRMask: UInt8 = 0xF8
    static let slaveELCRMask: UInt8 = 0xDE

    var irr: UInt8 = 0
    var isr: UInt8 = 0
    var imr: UInt8 = 0
    var elcr: UInt8 = 0
    var pins: UInt8 = 0
    var allLevel = false
    var vectorBase: UInt8 = 0
    /// The input with the lowest priority is `(lowestPriority + 7) & 7`; priority 0 is at
    /// input `priorityBase`.
    var priorityBase: UInt8 = 0
    var initStep = 0
    var expectsICW4 = false
    var single = false
    var autoEOI = false
    var rotateOnAutoEOI = false
    var specialFullyNested = false
    var specialMask = false
    var readISR = false
    var pollPending = false
    let isMaster: Bool

    init(isMaster: Bool) { self.isMaster = isMaster }

    var levelMask: UInt8 { allLevel ? 0xFF : elcr }

    mutating func setPin(_ pin: Int, level: Bool) {
        let bit = UInt8(1) << UInt8(pin)
        let was = pins & bit != 0
        if level { pins |= bit } else { pins &= ~bit }
        if levelMask & bit != 0 {
            if level { irr |= bit } else { irr &= ~bit }
        } else if level && !was {
            irr |= bit
        }
    }

    /// The master's IR2 follows the slave's INT as a level, whatever the ELCR says.
    mutating func setCascade(_ level: Bool) {
        if level { pins |= 0x04; irr |= 0x04 } else { pins &= ~0x04; irr &= ~0x04 }
    }

    mutating func setELCR(_ value: UInt8) {
        elcr = value
        refreshLevelRequests()
    }

    /// Level-triggered requests follow their pins.
    mutating func refreshLevelRequests() {
        irr = (irr & ~levelMask) | (pins & levelMask)
    }

    /// The relative priority (0 highest) of the best bit in `mask`, or nil.
    func bestPriority(_ mask: UInt8) -> Int? {
        guard mask != 0 else { return nil }
        for priority in 0..<8 where mask & (1 << ((UInt8(priority) &+ priorityBase) & 7)) != 0 {
            return priority
        }
        return nil
    }

    /// The input whose request should be raised on INT now, or nil.
    func highestRequest() -> Int? {
        guard let request = bestPriority(irr & ~imr) else { return nil }
        var inService = isr
        if specialMask { inService &= ~imr }
        if specialFullyNested && isMaster { inService &= ~(1 << 2) }
        if let current = bestPriority(inService), current <= request { return nil }
        return Int((UInt8(request) &+ priorityBase) & 7)
    }

    /// INTA for `irq`: into service (unless automatic EOI), the edge request consumed.
    mutating func accept(_ irq: Int) {
        let bit = UInt8(1) << UInt8(irq)
        if levelMask & bit == 0 { irr &= ~bit }
        if autoEOI {
            if rotateOnAutoEOI { priorityBase = (UInt8(irq) &+ 1) & 7 }
        } else {
            isr |= bit
        }
    }

    mutating func writeCommand(_ value: UInt8) {
        if value & 0x10 != 0 {
            // ICW1: restart initialisation.
            let keptPins = pins
            let keptELCR = elcr
            self = PICState(isMaster: isMaster)
            pins = keptPins
            elcr = keptELCR
            allLevel = value & 0x08 != 0
            expectsICW4 = value & 0x01 != 0
            single = value & 0x02 != 0
            initStep = 1
            refreshLevelRequests()
        } else if value & 0x08 != 0 {
            // OCW3.
            if value & 0x04 != 0 { pollPending = true }
            if value & 0x02 != 0 { readISR = value & 0x01 != 0 }
            if value & 0x40 != 0 { specialMask = value & 0x20 != 0 }
        } else {
            writeOCW2(value)
        }
    }

    private mutating func writeOCW2(_ value: UInt8) {
        let level = value & 7
        switch value >> 5 {
        case 0: rotateOnAutoEOI = false
        case 4: rotateOnAutoEOI = true
        case 1, 5:  // non-specific EOI, with rotation for 5
            guard let priority = bestPriority(isr) else { return }
            let irq = (UInt8(priority) &+ priorityBase) & 7
            isr &= ~(1 << irq)
            if value >> 5 == 5 { priorityBase = (irq &+ 1) & 7 }
        case 3: isr &= ~(1 << level)
        case 7:
            isr &= ~(1 << level)
            priorityBase = (level &+ 1) & 7
        case 6: priorityBase = (level &+ 1) & 7
        default: break  // 2: no operation
        }
    }

    mutating func writeData(_ value: UInt8) {
        switch initStep {
        case 1:
            vectorBase = value & 0xF8
            initStep = single ? (expectsICW4 ? 3 : 0) : 2
        case 2:
            // ICW3: the PC's cascade is fixed (master IR2, slave ID 2).
            initStep = expectsICW4 ? 3 : 0
        case 3:
            autoEOI = value & 0x02 != 0
            specialFullyNested = value & 0x10 != 0
            initStep = 0
        default:
            imr = value
        }
    }
}
