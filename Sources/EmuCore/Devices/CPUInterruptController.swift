/// Events an interrupt controller holds for its CPU.
public struct CPUInterruptEvents: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// A maskable interrupt is pending whose priority is above the controller's current
    /// processor priority: the CPU takes it when RFLAGS.IF is set and no interrupt shadow holds.
    public static let interrupt = CPUInterruptEvents(rawValue: 1 << 0)
    /// A non-maskable interrupt is pending (taken regardless of RFLAGS.IF, blocked while an NMI
    /// handler runs until its IRET).
    public static let nmi = CPUInterruptEvents(rawValue: 1 << 1)
    /// An INIT signal is pending (the CPU resets to its wait-for-SIPI state).
    public static let initSignal = CPUInterruptEvents(rawValue: 1 << 2)
    /// A startup IPI is pending, with its vector readable from ``CPUInterruptController/takeStartup()``.
    public static let startup = CPUInterruptEvents(rawValue: 1 << 3)
}

/// The protocol between a CPU and its interrupt controller (a PC's local APIC, or a test's fake).
///
/// The CPU reads ``pendingEvents`` at every point where it may take an interrupt (block
/// boundaries, between iterations of a REP string instruction, when it wakes from HLT) and, when
/// it takes one, acknowledges it. The controller calls the notifier it was given by
/// ``setNotifier(_:)`` whenever ``pendingEvents`` may have gained an event, from whatever thread
/// caused it (a device's IRQ on an I/O thread, a timer, another CPU's IPI), so the CPU leaves
/// translated code at its next check or wakes from HLT. A spurious notification is harmless.
///
/// Every method may be called on the CPU's thread while other threads deliver interrupts;
/// implementations are thread-safe. ``pendingEvents`` is on the CPU's hot path: keep it to an
/// atomic load.
public protocol CPUInterruptController: AnyObject, Sendable {
    /// What is pending now. `.interrupt` already accounts for the task and processor priority.
    var pendingEvents: CPUInterruptEvents { get }

    /// The interrupt-acknowledge cycle: moves the highest-priority deliverable interrupt from
    /// pending to in service and returns its vector. When nothing is deliverable any more (it
    /// was withdrawn, or the priority rose since ``pendingEvents`` was read), returns the
    /// controller's spurious vector, as hardware does.
    func acknowledgeInterrupt() -> UInt8

    /// Takes the pending NMI; `false` if there was none.
    func takeNMI() -> Bool

    /// Takes the pending INIT; `false` if there was none.
    func takeINIT() -> Bool

    /// Takes the pending startup IPI and returns its vector (the real-mode start page number).
    func takeStartup() -> UInt8?

    /// The task priority as CR8 shows it (TPR bits 7:4).
    var taskPriorityClass: UInt8 { get }

    /// Sets the task priority from a write to CR8 (bits 3:0 of `priorityClass` become TPR 7:4).
    func setTaskPriorityClass(_ priorityClass: UInt8)

    /// Reads an MSR that belongs to the controller (IA32_APIC_BASE, IA32_TSC_DEADLINE, …);
    /// `nil` if the controller does not own `index`, so the CPU looks elsewhere or raises #GP.
    func readMSR(_ index: UInt32) -> UInt64?

    /// Writes an MSR that belongs to the controller. Returns `false` if the controller does not
    /// own `index` or refuses the value (the CPU then raises #GP).
    func writeMSR(_ index: UInt32, value: UInt64) -> Bool

    /// Installs the function called when ``pendingEvents`` may have gained an event. Replaces
    /// any earlier notifier.
    func setNotifier(_ notify: @escaping @Sendable () -> Void)
}
