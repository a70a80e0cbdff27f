import Synchronization

/// Something that wants to hear the local APICs' EOIs for level-triggered vectors (an IOAPIC,
/// which then clears the remote IRR of the pins with that vector).
public protocol APICEOIListener: AnyObject, Sendable {
    /// A local APIC finished servicing level-triggered `vector`.
    func endOfInterrupt(vector: UInt8)
}

/// The APIC bus: routes interrupt messages (from IOAPICs, MSIs and IPIs) to the local APICs
/// whose physical or logical destination matches, and EOIs of level-triggered vectors from the
/// local APICs to the IOAPICs.
///
/// Shaped for several local APICs (lowest-priority arbitration picks one by arbitration
/// priority); a PC with one CPU attaches one. The bus holds its members weakly: the machine
/// owns them. Thread-safe; messages are delivered on the caller's thread, with no bus lock held
/// while a member handles one.
public final class APICBus: Sendable {
    private struct Member {
        weak var apic: LocalAPIC?
    }

    private struct Listener {
        weak var listener: (any APICEOIListener)?
    }

    private let members = Mutex<[Member]>([])
    private let listeners = Mutex<[Listener]>([])
    private let delivered = Atomic<UInt64>(0)
    private let undeliverable = Atomic<UInt64>(0)

    /// An empty bus.
    public init() {}

    /// Attaches a local APIC (done by ``LocalAPIC``'s initialiser).
    func attach(_ apic: LocalAPIC) {
        members.withLock { list in
            list.removeAll { $0.apic == nil }
            list.append(Member(apic: apic))
        }
    }

    /// Adds a listener for level-triggered EOIs (an IOAPIC does this when it is created).
    public func addEOIListener(_ listener: any APICEOIListener) {
        listeners.withLock { list in
            list.removeAll { $0.listener == nil }
            list.append(Listener(listener: listener))
        }
    }

    /// The local APICs on the bus.
    public var localAPICs: [LocalAPIC] { members.withLock { $0.compactMap(\.apic) } }

    /// Delivers `message` to every local APIC it names (one for lowest priority), except
    /// `excluding`. Returns how many accepted it; a message nobody accepts is counted in
    /// ``undeliverableCount`` and otherwise dropped.
    @discardableResult
    public func deliver(_ message: APICMessage, excluding: LocalAPIC? = nil) -> Int {
        var targets = localAPICs.filter {
            $0 !== excluding && $0.matches(destination: message.destination, mode: message.destinationMode)
        }
        if message.deliveryMode == .lowestPriority, targets.count > 1,
           let lowest = targets.min(by: { $0.arbitrationPriority < $1.arbitrationPriority }) {
            targets = [lowest]
        }
        var accepted = 0
        for apic in targets where apic.receive(message) { accepted += 1 }
        if accepted == 0 {
            undeliverable.add(1, ordering: .relaxed)
        } else {
            delivered.add(1, ordering: .relaxed)
        }
        return accepted
    }

    /// Tells every EOI listener that level-triggered `vector` was serviced.
    public func broadcastEOI(vector: UInt8) {
        let targets = listeners.withLock { $0.compactMap(\.listener) }
        for target in targets { target.endOfInterrupt(vector: vector) }
    }

    /// Messages at least one local APIC accepted.
    public var deliveredCount: UInt64 { delivered.load(ordering: .relaxed) }
    /// Messages no local APIC accepted (no such destination, or every target refused it).
    public var undeliverableCount: UInt64 { undeliverable.load(ordering: .relaxed) }
}
