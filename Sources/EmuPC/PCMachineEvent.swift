/// Something the guest asked of the whole machine through one of its devices. The machine's
/// devices raise these through ``PCMachineConfiguration/eventHandler``, on the thread of the
/// guest's port write; what to do about them (reset, stop, end the process) is the owner's call.
public enum PCMachineEvent: Sendable, Equatable {
    /// The guest asked for a reset.
    case resetRequested(PCResetSource)
    /// The guest entered S5 (soft off) through the ACPI PM1 control register.
    case powerOffRequested
    /// The guest asked for a sleeping state other than S5, by its SLP_TYP value.
    case sleepRequested(type: UInt8)
}

/// Which device carried a reset request.
public enum PCResetSource: Sendable, Equatable {
    /// The i8042 pulsed its reset line (command 0xFE at port 0x64).
    case keyboardController
    /// Bit 0 of system control port A (port 0x92) went from 0 to 1.
    case systemControlPortA
    /// The reset control register (port 0xCF9), with whether a hard or full reset was asked.
    case resetControlRegister(hard: Bool)
}
