/// The interrupt check the executor makes at block boundaries, between iterations of a REP
/// string instruction and when HLT sleeps: which event, if any, the CPU takes now from its
/// interrupt controller (Intel SDM Vol. 3A §6.7, §6.8.3, §6.9).
public enum InterruptPoll {
    /// What the CPU should do at an interrupt check.
    public enum Action: Hashable, Sendable {
        /// Nothing is deliverable: keep running (or keep sleeping in HLT).
        case none
        /// Deliver this event (an NMI or an acknowledged interrupt) with ``InterruptDelivery``.
        case deliver(InterruptEvent)
        /// An INIT signal: the machine resets this CPU to its wait-for-SIPI state.
        case initSignal
    }

    /// Takes the highest-priority deliverable event from the controller: INIT, then NMI (unless
    /// an NMI handler is running or an interrupt shadow holds), then a maskable interrupt
    /// (only with RFLAGS.IF set and no shadow), which is acknowledged here, so its vector is
    /// in service from now on. Costs one atomic load when nothing is pending.
    public static func take(state: SystemState) -> Action {
        guard let controller = state.interruptController else { return .none }
        let pending = controller.pendingEvents
        if pending.isEmpty { return .none }
        if pending.contains(.initSignal), controller.takeINIT() { return .initSignal }
        if pending.contains(.nmi), !state.nmiBlocked, !state.interruptShadow, controller.takeNMI() {
            state.halted = false
            return .deliver(InterruptEvent(vector: ExceptionVector.nmi.rawValue, source: .nmi))
        }
        if pending.contains(.interrupt), state.interruptsEnabled, !state.interruptShadow {
            state.halted = false
            return .deliver(InterruptEvent(vector: controller.acknowledgeInterrupt(), source: .hardwareInterrupt))
        }
        return .none
    }

    /// Whether a CPU sleeping in HLT wakes: an INIT, an unblocked NMI, or a maskable interrupt
    /// while RFLAGS.IF is set (SDM Vol. 2A "HLT"). Does not take the event.
    public static func wakesFromHalt(state: SystemState) -> Bool {
        guard let controller = state.interruptController else { return false }
        let pending = controller.pendingEvents
        return pending.contains(.initSignal) || (pending.contains(.nmi) && !state.nmiBlocked)
            || (pending.contains(.interrupt) && state.interruptsEnabled)
    }
}
