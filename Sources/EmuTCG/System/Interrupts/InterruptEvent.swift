/// Where an event comes from: it decides the DPL check of the gate, the EXT bit of error codes
/// raised while delivering it, and its class for double-fault escalation.
public enum InterruptSource: Sendable, Hashable {
    /// An exception the CPU raised (fault, trap or abort).
    case exception
    /// A maskable interrupt from the interrupt controller.
    case hardwareInterrupt
    /// A non-maskable interrupt.
    case nmi
    /// INT n: the gate's DPL must be ≥ CPL.
    case softwareInterrupt
    /// INT3 or INTO: software-generated exceptions, with the DPL check of INT n.
    case softwareException
}

/// One event to deliver through the IDT.
public struct InterruptEvent: Hashable, Sendable {
    public let vector: UInt8
    public let source: InterruptSource
    /// The error code to push, or `nil` for events that push none.
    public let errorCode: UInt32?
    /// For #PF, the linear address for CR2.
    public let faultAddress: UInt64

    /// An event; `errorCode` is pushed when not nil, `faultAddress` becomes CR2 for a #PF.
    public init(vector: UInt8, source: InterruptSource, errorCode: UInt32? = nil, faultAddress: UInt64 = 0) {
        self.vector = vector
        self.source = source
        self.errorCode = errorCode
        self.faultAddress = faultAddress
    }

    /// The event for an exception the CPU raised.
    public static func exception(_ exception: X86Exception) -> InterruptEvent {
        InterruptEvent(vector: exception.vector.rawValue, source: .exception,
                       errorCode: exception.vector.pushesErrorCode ? exception.errorCode : nil,
                       faultAddress: exception.faultAddress)
    }

    /// Whether a software instruction (INT n, INT3, INTO) caused it.
    public var isSoftware: Bool { source == .softwareInterrupt || source == .softwareException }

    /// The escalation class of this event as the first of two (SDM Table 6-5): only exceptions
    /// the CPU raised are contributory or page faults.
    var escalationClass: ExceptionClass {
        source == .exception ? ExceptionVector(rawValue: vector).escalationClass : .benign
    }
}

/// The registers an event delivery or a return reads and writes. The integration gathers them
/// from `CPUState` (RIP, RSP, the arithmetic flags) and ``SystemState/systemFlags``, and writes
/// them back afterwards.
public struct InterruptFrameRegisters: Hashable, Sendable {
    /// RIP: for a fault the faulting instruction, for a trap or interrupt the next one.
    public var rip: UInt64
    public var rsp: UInt64
    /// The full RFLAGS.
    public var rflags: UInt64
    /// The registers as they are before the event or return.
    public init(rip: UInt64, rsp: UInt64, rflags: UInt64) {
        self.rip = rip
        self.rsp = rsp
        self.rflags = rflags
    }
}

/// What delivering an event ended in.
public enum DeliveryOutcome: Hashable, Sendable {
    /// The handler for `vector` is entered (this may be #DF, or a fault raised while
    /// delivering the original event, when that is what the architecture delivers).
    case delivered(vector: UInt8)
    /// A fault while delivering #DF: the CPU shuts down. The machine treats it as a reset
    /// request, as a PC's chipset does.
    case tripleFault
}
