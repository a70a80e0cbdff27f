import EmuCore

extension LocalAPIC {
    /// Everything a local APIC holds, under its lock; the register semantics live here.
    struct State {
        static let defaultBase: UInt64 = PCMemoryMap.localAPICBase
        static let enableBit: UInt64 = 1 << 11
        static let bootstrapBit: UInt64 = 1 << 8
        /// IA32_APIC_BASE bits software may change: the base (bits 12-51) and the enable bit.
        static let apicBaseWritable: UInt64 = 0x000F_FFFF_FFFF_F000 | enableBit

        /// The local vector table's entries, in register order (0x320 + 0x10 × rawValue).
        enum LVT: Int, CaseIterable {
            case timer = 0, thermal, performance, lint0, lint1, error

            static let masked: UInt32 = 1 << 16
            static let remoteIRR: UInt32 = 1 << 14
            static let levelTriggered: UInt32 = 1 << 15
            static let activeLow: UInt32 = 1 << 13

            /// Bits a write may change.
            var writableBits: UInt32 {
                switch self {
                case .timer: 0x0007_00FF  // vector, mask, mode (17-18)
                case .thermal, .performance: 0x0001_07FF  // vector, delivery mode, mask
                case .lint0, .lint1: 0x0001_A7FF  // vector, delivery mode, polarity, trigger, mask
                case .error: 0x0001_00FF
                }
            }

            /// Read-only status bits kept across writes.
            var readOnlyBits: UInt32 { self == .lint0 || self == .lint1 ? Self.remoteIRR : 0 }
        }

        /// ESR bits.
        enum Error {
            static let sendIllegalVector: UInt32 = 1 << 5
            static let receiveIllegalVector: UInt32 = 1 << 6
            static let illegalRegister: UInt32 = 1 << 7
        }

        var apicBase: UInt64
        var id: UInt8
        var tpr: UInt8 = 0
        var ldr: UInt32 = 0
        var dfr: UInt32 = 0xFFFF_FFFF
        var svr: UInt32 = 0xFF
        var irr = APICVectorSet()
        var isr = APICVectorSet()
        var tmr = APICVectorSet()
        /// The ESR as last latched.
        var esr: UInt32 = 0
        /// Errors seen since the last ESR write.
        var errors: UInt32 = 0
        var lvt = [UInt32](repeating: LVT.masked, count: LVT.allCases.count)
        var icrLow: UInt32 = 0
        var icrHigh: UInt32 = 0
        var timer = LocalAPICTimer()
        var timerHandle: LoopTimer?
        /// Raw levels of the LINT pins.
        var lint0Level = false
        var lint1Level = false
        /// An ExtINT message from the bus waits for the acknowledge cycle.
        var externalMessagePending = false
        var nmiPending = false
        var initPending = false
        var startupVector: UInt8?

        init(id: UInt8, bootstrap: Bool) {
            self.id = id
            apicBase = Self.defaultBase | Self.enableBit | (bootstrap ? Self.bootstrapBit : 0)
            resetRegisters(lint0ExtINT: bootstrap)
        }

        /// Power-up register values (ID and IA32_APIC_BASE are kept; pin levels too).
        mutating func resetRegisters(lint0ExtINT: Bool) {
            tpr = 0
            ldr = 0
            dfr = 0xFFFF_FFFF
            svr = 0xFF
            irr.removeAll()
            isr.removeAll()
            tmr.removeAll()
            esr = 0
            errors = 0
            lvt = [UInt32](repeating: LVT.masked, count: LVT.allCases.count)
            if lint0ExtINT { lvt[LVT.lint0.rawValue] = 0x700 }
            icrLow = 0
            icrHigh = 0
            timer = LocalAPICTimer()
            externalMessagePending = false
            nmiPending = false
            initPending = false
            startupVector = nil
        }

        var baseAddress: UInt64 { apicBase & 0x000F_FFFF_FFFF_F000 }
        var globallyEnabled: Bool { apicBase & Self.enableBit != 0 }
        var softwareEnabled: Bool { svr & 0x100 != 0 }
        var spuriousVector: UInt8 { UInt8(svr & 0xFF) }
        var timerMode: LocalAPICTimer.Mode {
            LocalAPICTimer.Mode(rawValue: (lvt[LVT.timer.rawValue] >> 17) & 3) ?? .oneShot
        }

        /// PPR: the higher of the TPR and the class of the highest vector in service.
        var processorPriority: UInt8 {
            let isrv = isr.highest ?? 0
            return tpr >> 4 >= isrv >> 4 ? tpr : isrv & 0xF0
        }

        /// APR, for lowest-priority arbitration.
        var arbitrationPriority: UInt8 {
            let isrv = (isr.highest ?? 0) & 0xF0, irrv = (irr.highest ?? 0) & 0xF0, tprClass = tpr & 0xF0
            if tprClass >= irrv && tprClass > isrv { return tpr }
            return max(tprClass, isrv, irrv)
        }

        /// The highest requested vector whose class is above the processor priority.
        var deliverableVector: UInt8? {
            guard let vector = irr.highest, vector & 0xF0 > processorPriority & 0xF0 else { return nil }
            return vector
        }

        /// Whether the 8259 pair's interrupt is presented to the CPU: LINT0 in ExtINT mode (or the
        /// INTR pin of a hardware-disabled APIC), or an ExtINT message from the bus.
        var externalInterruptReady: Bool {
            guard globallyEnabled else { return lint0Level }
            let entry = lvt[LVT.lint0.rawValue]
            let extINT = entry & LVT.masked == 0 && (entry >> 8) & 7 == 7 && pinAsserted(.lint0)
            return externalMessagePending || extINT
        }

        var events: CPUInterruptEvents {
            var events: CPUInterruptEvents = []
            if externalInterruptReady || (globallyEnabled && deliverableVector != nil) { events.insert(.interrupt) }
            if nmiPending { events.insert(.nmi) }
            if initPending { events.insert(.initSignal) }
            if startupVector != nil { events.insert(.startup) }
            return events
        }

        // MARK: Destinations and messages

        func matches(destination: UInt8, mode: APICDestinationMode) -> Bool {
            guard globallyEnabled else { return false }
            if destination == 0xFF { return true }
            switch mode {
            case .physical:
                return destination == id
            case .logical:
                let logical = UInt8(ldr >> 24)
                switch dfr >> 28 {
                case 0xF:  // flat: one bit per APIC
                    return logical & destination != 0
                case 0x0:  // cluster: cluster number in 7:4, member bits in 3:0
                    let cluster = destination >> 4
                    return (cluster == logical >> 4 || cluster == 0xF) && logical & destination & 0xF != 0
                default:
                    return false
                }
            }
        }

        mutating func receive(_ message: APICMessage) -> Bool {
            guard globallyEnabled else { return false }
            switch message.deliveryMode {
            case .fixed, .lowestPriority:
                guard softwareEnabled else { return false }
                acceptVector(message.vector, level: message.trigger == .level)
            case .nmi:
                nmiPending = true
            case .initSignal:
                // An INIT level de-assert only synchronises arbitration IDs on old APICs.
                if message.trigger == .level && !message.assert { return true }
                initPending = true
            case .startup:
                startupVector = message.vector
            case .externalInterrupt:
                externalMessagePending = true
            case .smi:
                return false
            }
            return true
        }

        /// Puts `vector` in the IRR (its TMR bit saying the trigger mode); vectors 0-15 are
        /// illegal and only recorded in the ESR.
        mutating func acceptVector(_ vector: UInt8, level: Bool) {
            guard vector >= 16 else {
                recordError(Error.receiveIllegalVector)
                return
            }
            irr.insert(vector)
            tmr.set(vector, level)
        }

        /// Records an error; a new one fires the error LVT (once per error kind until the ESR
        /// is written, so an illegal error vector cannot recurse).
        mutating func recordError(_ bit: UInt32) {
            guard errors & bit == 0 else { return }
            errors |= bit
            deliverLocal(.error)
        }

        /// Signals a local interrupt source through its LVT entry.
        mutating func deliverLocal(_ entry: LVT) {
            let value = lvt[entry.rawValue]
            guard value & LVT.masked == 0 else { return }
            switch (value >> 8) & 7 {
            case 0: acceptVector(UInt8(value & 0xFF), level: false)
            case 4: nmiPending = true
            case 5: initPending = true
            default: break  // SMI (no SMM) and ExtINT (level-driven, see LINT0) and reserved
            }
        }

        /// The EOI register: retires the highest vector in service. Returns the vector if it was
        /// level-triggered (its EOI goes to the IOAPICs).
        mutating func endOfInterrupt() -> UInt8? {
            guard let vector = isr.highest else { return nil }
            isr.remove(vector)
            for entry in [LVT.lint0, .lint1] {
                let value = lvt[entry.rawValue]
                guard value & LVT.remoteIRR != 0, UInt8(value & 0xFF) == vector else { continue }
                lvt[entry.rawValue] &= ~LVT.remoteIRR
                localPinChanged(entry, previous: pinAsserted(entry))
            }
            return tmr.contains(vector) ? vector : nil
        }

        // MARK: LINT pins

        /// The pin's level after its LVT polarity.
        func pinAsserted(_ entry: LVT) -> Bool {
            let raw = entry == .lint0 ? lint0Level : lint1Level
            return raw != (lvt[entry.rawValue] & LVT.activeLow != 0)
        }

        /// Acts on a LINT pin whose asserted state was `previous` (edges, and level-triggered
        /// fixed interrupts whose remote IRR is clear).
        mutating func localPinChanged(_ entry: LVT, previous: Bool) {
            let asserted = pinAsserted(entry)
            let rising = asserted && !previous
            guard globallyEnabled else {
                // Without the APIC, LINT1 is the CPU's NMI pin (LINT0, INTR, is level-driven).
                if entry == .lint1 && rising { nmiPending = true }
                return
            }
            let value = lvt[entry.rawValue]
            guard value & LVT.masked == 0 else { return }
            switch (value >> 8) & 7 {
            case 0 where value & LVT.levelTriggered != 0 && entry == .lint0:
                guard asserted, value & LVT.remoteIRR == 0 else { return }
                lvt[entry.rawValue] |= LVT.remoteIRR
                acceptVector(UInt8(value & 0xFF), level: true)
            case 0, 4, 5:
                if rising { deliverLocal(entry) }
            default:
                break
            }
        }

        // MARK: ICR

        /// A write of the ICR's low dword: sends the IPI it describes. Self-directed fixed IPIs
        /// are accepted here; others go to the bus once the lock is released.
        mutating func sendICR(_ value: UInt32) -> [Outgoing] {
            icrLow = value & 0x000C_CFFF  // delivery status (bit 12) always reads idle
            guard let mode = APICDeliveryMode(rawValue: UInt8((value >> 8) & 7)) else { return [] }
            let vector = UInt8(value & 0xFF)
            let level = value & (1 << 14) != 0
            let trigger: APICTriggerMode = value & (1 << 15) != 0 ? .level : .edge
            if (mode == .fixed || mode == .lowestPriority) && vector < 16 {
                recordError(Error.sendIllegalVector)
                return []
            }
            var message = APICMessage(destination: UInt8(icrHigh >> 24),
                                      destinationMode: value & (1 << 11) != 0 ? .logical : .physical,
                                      deliveryMode: mode, vector: vector, trigger: trigger, assert: level)
            switch (value >> 18) & 3 {
            case 1:  // self: fixed only
                if mode == .fixed { acceptVector(vector, level: false) }
                return []
            case 2:
                message.destination = 0xFF
                message.destinationMode = .physical
                return [.message(message, excludingSelf: false)]
            case 3:
                message.destination = 0xFF
                message.destinationMode = .physical
                return [.message(message, excludingSelf: true)]
            default:
                return [.message(message, excludingSelf: false)]
            }
        }
    }
}
