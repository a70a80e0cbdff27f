import EmuCore
import Synchronization

/// A local APIC in xAPIC mode: the CPU's interrupt controller (``CPUInterruptController``), its
/// register page (``MMIOHandler``, at IA32_APIC_BASE, default ``PCMemoryMap/localAPICBase``) and
/// its member of the ``APICBus``.
///
/// What it does: ID, version (6 LVT entries: timer, thermal, performance, LINT0, LINT1, error;
/// no CMCI), TPR/APR/PPR and CR8, IRR/ISR/TMR with priority classes, EOI (for a level-triggered
/// vector the EOI goes to the bus's listeners, where the IOAPIC clears its remote IRR), LDR and
/// DFR in the flat and cluster models, SVR (software enable, spurious vector, focus bit), ESR
/// (errors accumulate and are latched by a write; a new error fires the error LVT), the timer
/// (one-shot, periodic and TSC-deadline, see ``timerFrequency``), LINT0/LINT1 (ExtINT through the
/// 8259 pair's acknowledge, NMI, fixed), and the ICR (fixed, lowest priority, NMI, INIT, SIPI;
/// shorthands self, all and all-but-self). IA32_APIC_BASE relocates or disables the register
/// page; disabling it turns LINT0 into the CPU's INTR pin and LINT1 into its NMI pin.
/// IA32_TSC_DEADLINE arms the TSC-deadline timer.
///
/// Register accesses behave as on hardware: registers are 32 bits at 16-byte strides; reads of
/// 1 or 2 bytes within a register return those bytes; writes narrower than 32 bits and the
/// bytes 4–15 of each stride are ignored; reserved registers read 0 and set the ESR's illegal
/// register address bit. Nothing a guest writes can make it crash or grow: every message is
/// delivered at once or dropped.
///
/// Reset state: as after power-on, with the BSP's LINT0 in ExtINT mode (as firmware leaves it)
/// so the 8259 pair reaches the CPU before the OS programs the APIC.
///
/// Thread-safe. ``pendingEvents`` is one atomic load; the notifier runs on the thread that made
/// an event pending, with no lock of this APIC held.
public final class LocalAPIC: CPUInterruptController, MMIOHandler, Device {
    /// The timer's input clock in Hz: one tick per nanosecond of the machine's guest clock (the
    /// TSC's clock). Report it as the crystal clock in CPUID 0x15 (``cpuidLeaf15(for:)``).
    public static let timerFrequency: UInt64 = LocalAPICTimer.inputFrequency

    /// CPUID leaf 0x15 for `timeBase`: EAX and EBX the TSC/crystal ratio, ECX the crystal
    /// (``timerFrequency``). `nil` if the ratio does not fit in 32 bits.
    public static func cpuidLeaf15(for timeBase: TimestampCounterBase) -> (eax: UInt32, ebx: UInt32, ecx: UInt32)? {
        LocalAPICTimer.cpuidLeaf15(tscFrequency: timeBase.frequency)
    }

    /// The version register: version 0x14 (integrated APIC), max LVT entry 5.
    public static let versionRegister: UInt32 = 0x0005_0014
    /// IA32_APIC_BASE.
    public static let apicBaseMSR: UInt32 = 0x1B
    /// IA32_TSC_DEADLINE.
    public static let tscDeadlineMSR: UInt32 = 0x6E0

    public let name: String
    /// The bus this APIC sends IPIs and EOIs on and receives messages from.
    public let bus: APICBus
    private let timeBase: TimestampCounterBase
    private let isBootstrapProcessor: Bool
    private let initialID: UInt8
    let state: Mutex<State>
    private let events = Atomic<UInt32>(0)
    private let notifier = Mutex<(@Sendable () -> Void)?>(nil)
    private let externalAcknowledge = Mutex<(@Sendable () -> UInt8)?>(nil)
    private let registers = Mutex<MemoryRegion?>(nil)

    /// Registers are 32 bits: byte and word reads are served, wider accesses split.
    public var accessSizes: MMIOAccessSizes { Self.registerAccessSizes }
    private static let registerAccessSizes = MMIOAccessSizes(minSize: 1, maxSize: 4) ?? .dwords

    /// Creates the APIC with `apicID`, attached to `bus`; its timer runs on `loop` in the clock
    /// of `timeBase` (the TSC's time base, so TSC-deadline and RDTSC agree).
    public init(name: String = "lapic0", apicID: UInt8 = 0, isBootstrapProcessor: Bool = true,
                bus: APICBus, loop: EventLoop, timeBase: TimestampCounterBase) {
        self.name = name
        self.bus = bus
        self.timeBase = timeBase
        self.isBootstrapProcessor = isBootstrapProcessor
        self.initialID = apicID
        state = Mutex(State(id: apicID, bootstrap: isBootstrapProcessor))
        let timer = loop.makeTimer(on: timeBase.clock) { [weak self] in self?.timerExpired() }
        state.withLock { $0.timerHandle = timer }
        bus.attach(self)
    }

    // MARK: Wiring

    /// Adds the register page to `container` (the machine's memory) at the current
    /// IA32_APIC_BASE, with `priority` (above RAM, so a base moved over RAM shows the APIC).
    /// Later changes of IA32_APIC_BASE move or hide it.
    /// - Throws: ``MemoryRegionError`` if the page is already mapped somewhere.
    public func mapRegisters(in container: MemoryRegion, priority: Int = 1) throws {
        let (base, enabled) = state.withLock { ($0.baseAddress, $0.globallyEnabled) }
        try registers.withLock { region throws in
            guard region == nil else {
                throw MemoryRegionError.alreadyInContainer(region: "\(name).mmio", container: container.name)
            }
            let page = try MemoryRegion.mmio(name: "\(name).mmio", size: PCMemoryMap.localAPICSize, handler: self)
            page.isEnabled = enabled
            try container.addSubregion(page, at: base, priority: priority)
            region = page
        }
    }

    /// Connects LINT0's ExtINT mode to the 8259 pair: `acknowledge` runs its interrupt-acknowledge
    /// cycle and returns the vector (called on the CPU's thread, no APIC lock held).
    public func connectExternalInterruptController(acknowledge: @escaping @Sendable () -> UInt8) {
        externalAcknowledge.withLock { $0 = acknowledge }
    }

    /// Sets the level of the LINT0 pin (the 8259 pair's INT output).
    public func setLINT0(_ level: Bool) { setLocalPin(.lint0, level: level) }

    /// Sets the level of the LINT1 pin (NMI sources).
    public func setLINT1(_ level: Bool) { setLocalPin(.lint1, level: level) }

    /// An IRQ line driving LINT0 (give it to the 8259 pair as its INT output).
    public func makeLINT0Line() -> IRQLine { IRQLine(name: "\(name).lint0") { [self] in setLINT0($0) } }

    /// An IRQ line driving LINT1.
    public func makeLINT1Line() -> IRQLine { IRQLine(name: "\(name).lint1") { [self] in setLINT1($0) } }

    // MARK: CPUInterruptController

    public var pendingEvents: CPUInterruptEvents {
        CPUInterruptEvents(rawValue: events.load(ordering: .acquiring))
    }

    public func acknowledgeInterrupt() -> UInt8 {
        enum Taken { case external, vector(UInt8) }
        let taken: Taken = mutate { s, _ in
            if s.externalInterruptReady {
                s.externalMessagePending = false
                return .external
            }
            guard s.globallyEnabled, let vector = s.deliverableVector else { return .vector(s.spuriousVector) }
            s.irr.remove(vector)
            s.isr.insert(vector)
            return .vector(vector)
        }
        switch taken {
        case .vector(let vector): return vector
        case .external:
            guard let acknowledge = externalAcknowledge.withLock({ $0 }) else {
                return state.withLock { $0.spuriousVector }
            }
            return acknowledge()
        }
    }

    public func takeNMI() -> Bool {
        mutate { s, _ in
            defer { s.nmiPending = false }
            return s.nmiPending
        }
    }

    public func takeINIT() -> Bool {
        mutate { s, _ in
            guard s.initPending else { return false }
            // INIT resets the APIC except its ID and IA32_APIC_BASE.
            s.resetRegisters(lint0ExtINT: false)
            s.timerHandle?.cancel()
            return true
        }
    }

    public func takeStartup() -> UInt8? {
        mutate { s, _ in
            defer { s.startupVector = nil }
            return s.startupVector
        }
    }

    public var taskPriorityClass: UInt8 { state.withLock { $0.tpr >> 4 } }

    public func setTaskPriorityClass(_ priorityClass: UInt8) {
        mutate { s, _ in s.tpr = (priorityClass & 0xF) << 4 }
    }

    public func readMSR(_ index: UInt32) -> UInt64? {
        switch index {
        case Self.apicBaseMSR: return state.withLock { $0.apicBase }
        case Self.tscDeadlineMSR: return state.withLock { $0.timerMode == .tscDeadline ? $0.timer.deadline : 0 }
        default: return nil
        }
    }

    public func writeMSR(_ index: UInt32, value: UInt64) -> Bool {
        switch index {
        case Self.apicBaseMSR:
            // Bits 0-7, 9, 10 (x2APIC, not offered) and 52-63 are reserved: #GP.
            guard value & ~State.apicBaseWritable & ~State.bootstrapBit == 0 else { return false }
            let moved: (UInt64, Bool)? = mutate { s, _ in
                let old = s.apicBase
                s.apicBase = (value & State.apicBaseWritable) | (old & State.bootstrapBit)
                if old & State.enableBit != 0, s.apicBase & State.enableBit == 0 {
                    // Disabling the APIC returns it to its power-up state.
                    s.resetRegisters(lint0ExtINT: false)
                    s.timerHandle?.cancel()
                }
                return s.apicBase == old ? nil : (s.baseAddress, s.globallyEnabled)
            }
            if let (base, enabled) = moved { relocate(base: base, enabled: enabled) }
            return true
        case Self.tscDeadlineMSR:
            mutate { s, now in
                // Outside TSC-deadline mode the write is ignored (SDM 10.5.4.1).
                guard s.timerMode == .tscDeadline else { return }
                s.timer.deadline = value
                serviceTimer(&s, now: now)
            }
            return true
        default:
            return false
        }
    }

    public func setNotifier(_ notify: @escaping @Sendable () -> Void) {
        notifier.withLock { $0 = notify }
    }

    // MARK: Device

    public func reset(_ kind: ResetKind) {
        let (base, enabled) = mutate { s, _ in
            s.apicBase = State.defaultBase | State.enableBit | (isBootstrapProcessor ? State.bootstrapBit : 0)
            s.id = initialID
            s.resetRegisters(lint0ExtINT: isBootstrapProcessor)  // pin levels are wires: kept
            s.timerHandle?.cancel()
            return (s.baseAddress, s.globallyEnabled)
        }
        relocate(base: base, enabled: enabled)
    }

    // MARK: The APIC bus

    /// Whether this APIC is a destination of `destination` in `mode` (a disabled APIC is none).
    public func matches(destination: UInt8, mode: APICDestinationMode) -> Bool {
        state.withLock { $0.matches(destination: destination, mode: mode) }
    }

    /// The arbitration priority (APR) lowest-priority delivery compares.
    public var arbitrationPriority: UInt8 { state.withLock { $0.arbitrationPriority } }

    /// Takes a message from the bus. Returns `false` if the APIC refused it: hardware-disabled,
    /// software-disabled for fixed and lowest-priority messages, or SMI (no SMM here).
    @discardableResult
    public func receive(_ message: APICMessage) -> Bool {
        mutate { s, _ in s.receive(message) }
    }

    // MARK: Registers

    public func read(offset: UInt64, size: Int) -> UInt64 {
        let within = offset & 0xF
        guard within < 4 else { return 0 }
        let value = mutate { s, now in readRegister(&s, offset & ~0xF, now: now) }
        let mask: UInt64 = size >= 4 ? 0xFFFF_FFFF : (UInt64(1) << UInt64(size * 8)) - 1
        return (UInt64(value) >> (within * 8)) & mask
    }

    public func write(offset: UInt64, size: Int, value: UInt64) {
        guard size == 4, offset & 0xF == 0 else { return }
        let outgoing: [Outgoing] = mutate { s, now in
            writeRegister(&s, offset, UInt32(truncatingIfNeeded: value), now: now)
        }
        for item in outgoing {
            switch item {
            case .message(let message, let excludingSelf): bus.deliver(message, excluding: excludingSelf ? self : nil)
            case .endOfInterrupt(let vector): bus.broadcastEOI(vector: vector)
            }
        }
    }

    /// What a register write asks the bus to do once the APIC's lock is released.
    enum Outgoing {
        case message(APICMessage, excludingSelf: Bool)
        case endOfInterrupt(UInt8)
    }

    private func readRegister(_ s: inout State, _ register: UInt64, now: UInt64) -> UInt32 {
        switch register {
        case 0x020: return UInt32(s.id) << 24
        case 0x030: return Self.versionRegister
        case 0x080: return UInt32(s.tpr)
        case 0x090: return UInt32(s.arbitrationPriority)
        case 0x0A0: return UInt32(s.processorPriority)
        case 0x0B0, 0x0C0: return 0
        case 0x0D0: return s.ldr
        case 0x0E0: return s.dfr
        case 0x0F0: return s.svr
        case 0x100...0x170: return s.isr.register(Int((register - 0x100) >> 4))
        case 0x180...0x1F0: return s.tmr.register(Int((register - 0x180) >> 4))
        case 0x200...0x270: return s.irr.register(Int((register - 0x200) >> 4))
        case 0x280: return s.esr
        case 0x300: return s.icrLow
        case 0x310: return s.icrHigh
        case 0x320...0x370: return s.lvt[Int((register - 0x320) >> 4)]
        case 0x380: return s.timer.initialCount
        case 0x390: return s.timer.currentCount(at: now, mode: s.timerMode)
        case 0x3E0: return s.timer.divideConfiguration
        default:
            s.recordError(State.Error.illegalRegister)
            return 0
        }
    }

    private func writeRegister(_ s: inout State, _ register: UInt64, _ value: UInt32, now: UInt64) -> [Outgoing] {
        switch register {
        case 0x020: s.id = UInt8(value >> 24)
        case 0x080: s.tpr = UInt8(value & 0xFF)
        case 0x0B0:
            if let vector = s.endOfInterrupt() { return [.endOfInterrupt(vector)] }
        case 0x0D0: s.ldr = value & 0xFF00_0000
        case 0x0E0: s.dfr = value | 0x0FFF_FFFF
        case 0x0F0:
            s.svr = value & 0x3FF
            if !s.softwareEnabled {
                for i in s.lvt.indices { s.lvt[i] |= State.LVT.masked }
            }
        case 0x280:
            s.esr = s.errors
            s.errors = 0
        case 0x300: return s.sendICR(value)
        case 0x310: s.icrHigh = value & 0xFF00_0000
        case 0x320...0x370: writeLVT(&s, State.LVT(rawValue: Int((register - 0x320) >> 4)) ?? .error, value, now: now)
        case 0x380:
            guard s.timerMode != .tscDeadline else { break }
            s.timer.start(initialCount: value, now: now)
            serviceTimer(&s, now: now)
        case 0x3E0:
            s.timer.setDivideConfiguration(value, now: now)
            serviceTimer(&s, now: now)
        case 0x030, 0x090, 0x0A0, 0x0C0, 0x100...0x270, 0x390:
            break  // read-only
        default:
            s.recordError(State.Error.illegalRegister)
        }
        return []
    }

    private func writeLVT(_ s: inout State, _ entry: State.LVT, _ value: UInt32, now: UInt64) {
        let index = entry.rawValue
        let old = s.lvt[index]
        var new = value & entry.writableBits | (old & State.LVT.remoteIRR & entry.readOnlyBits)
        if !s.softwareEnabled { new |= State.LVT.masked }
        if entry == .timer, (new >> 17) & 3 == 3 { new &= ~(UInt32(3) << 17) }  // reserved mode: one-shot
        s.lvt[index] = new
        switch entry {
        case .timer where (old >> 17) & 3 != (new >> 17) & 3:
            // A change of timer mode disarms the timer.
            s.timer.stop()
            serviceTimer(&s, now: now)
        case .lint0, .lint1:
            s.localPinChanged(entry, previous: s.pinAsserted(entry))
        default:
            break
        }
    }

    // MARK: Internals

    /// Runs `body` under the lock with the clock's time, publishes the new pending events and,
    /// if events were gained, calls the notifier after the lock is released.
    @discardableResult
    private func mutate<R: Sendable>(_ body: (inout State, UInt64) -> R) -> R {
        let (result, gained) = state.withLock { s -> (R, Bool) in
            let result = body(&s, timeBase.clock.now)
            let new = s.events.rawValue
            let old = events.exchange(new, ordering: .acquiringAndReleasing)
            return (result, new & ~old != 0)
        }
        if gained, let notify = notifier.withLock({ $0 }) { notify() }
        return result
    }

    private func setLocalPin(_ entry: State.LVT, level: Bool) {
        mutate { s, _ in
            let previous = s.pinAsserted(entry)
            if entry == .lint0 { s.lint0Level = level } else { s.lint1Level = level }
            s.localPinChanged(entry, previous: previous)
        }
    }

    private func timerExpired() {
        mutate { s, now in serviceTimer(&s, now: now) }
    }

    /// Delivers the timer interrupt if it expired and arms the loop timer for the next expiry.
    private func serviceTimer(_ s: inout State, now: UInt64) {
        let base = timeBase
        let (expired, next) = s.timer.service(now: now, mode: s.timerMode, tscNow: base.ticks(atNanoseconds: now),
                                              deadlineTime: { base.nanoseconds(atTicks: $0) })
        if expired { s.deliverLocal(.timer) }
        if let next { s.timerHandle?.arm(at: next) } else { s.timerHandle?.cancel() }
    }

    private func relocate(base: UInt64, enabled: Bool) {
        registers.withLock { region in
            guard let region else { return }
            MemoryRegion.transaction {
                region.isEnabled = false
                region.setOffsetInContainer(base)
                region.isEnabled = enabled
            }
        }
    }
}
