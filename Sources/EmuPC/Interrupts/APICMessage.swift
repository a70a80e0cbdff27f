/// How an APIC message is delivered (the delivery-mode field of the ICR, an IOAPIC redirection
/// entry and MSI data, bits 10:8).
public enum APICDeliveryMode: UInt8, Sendable, Hashable {
    /// To the vector named, at its priority.
    case fixed = 0
    /// To the lowest-priority APIC among the destinations.
    case lowestPriority = 1
    /// System management interrupt (no SMM here: dropped).
    case smi = 2
    /// Non-maskable interrupt (the vector is ignored).
    case nmi = 4
    /// INIT: the CPU goes to its wait-for-SIPI state.
    case initSignal = 5
    /// Startup IPI: the vector is the real-mode start page.
    case startup = 6
    /// External interrupt: the vector comes from the 8259 pair's acknowledge cycle.
    case externalInterrupt = 7
}

/// Whether a message's destination is an APIC ID or a logical destination (LDR/DFR).
public enum APICDestinationMode: Sendable, Hashable {
    /// Destination is an APIC ID; 0xFF is every APIC.
    case physical
    /// Destination is matched against each APIC's logical destination register.
    case logical
}

/// Edge or level triggered.
public enum APICTriggerMode: Sendable, Hashable {
    /// One interrupt per message.
    case edge
    /// The source holds the interrupt until the CPU's EOI (the IOAPIC's remote IRR).
    case level
}

/// One interrupt message on the APIC bus (from the IOAPIC, an MSI or an IPI).
public struct APICMessage: Sendable, Hashable {
    /// An 8-bit xAPIC destination.
    public var destination: UInt8
    /// How `destination` is matched.
    public var destinationMode: APICDestinationMode
    /// What the message does.
    public var deliveryMode: APICDeliveryMode
    /// The vector (fixed, lowest priority, startup).
    public var vector: UInt8
    /// Edge or level.
    public var trigger: APICTriggerMode
    /// The level bit: `false` only for an INIT level de-assert, which real APICs ignore.
    public var assert: Bool

    /// A message with all its fields.
    public init(destination: UInt8, destinationMode: APICDestinationMode, deliveryMode: APICDeliveryMode,
                vector: UInt8, trigger: APICTriggerMode = .edge, assert: Bool = true) {
        self.destination = destination
        self.destinationMode = destinationMode
        self.deliveryMode = deliveryMode
        self.vector = vector
        self.trigger = trigger
        self.assert = assert
    }
}
