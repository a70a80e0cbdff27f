import EmuCore
import Synchronization

/// Delivers MSI and MSI-X messages to the ``APICBus``: what a PCI function's message write
/// becomes. Give ``deliver(address:data:)`` to each function's ``MSIXController`` (its
/// `deliver` closure has the same shape), e.g. `deliverMSI: { router.deliver(address: $0, data: $1) }`.
///
/// Messages are decoded by ``MSIMessage``; one that is no valid interrupt message (an address
/// outside 0xFEEx_xxxx, a vector below 16, a reserved delivery mode) is dropped and counted,
/// as is one whose destination matches no local APIC. Nothing is queued, so no guest input
/// makes it grow. Thread-safe; delivery happens on the caller's thread.
public final class MSIRouter: Sendable {
    /// The bus messages go to.
    public let bus: APICBus
    private let counts = Mutex<Counts>(Counts())

    /// What happened to the messages so far.
    public struct Counts: Sendable, Equatable {
        /// Accepted by at least one local APIC.
        public var delivered: UInt64 = 0
        /// Refused: not an interrupt address.
        public var invalidAddress: UInt64 = 0
        /// Refused: vector below 16.
        public var illegalVector: UInt64 = 0
        /// Refused: reserved delivery mode.
        public var reservedDeliveryMode: UInt64 = 0
        /// Valid, but no local APIC took it.
        public var undeliverable: UInt64 = 0

        /// Every message that did not reach an APIC.
        public var dropped: UInt64 { invalidAddress + illegalVector + reservedDeliveryMode + undeliverable }
    }

    /// A router onto `bus`.
    public init(bus: APICBus) {
        self.bus = bus
    }

    /// Sends the message `address`/`data`. Returns whether a local APIC accepted it.
    @discardableResult
    public func deliver(address: UInt64, data: UInt32) -> Bool {
        let message: MSIMessage
        do throws(MSIMessage.Refusal) {
            message = try MSIMessage(address: address, data: data)
        } catch {
            counts.withLock { c in
                switch error {
                case .notAnInterruptAddress: c.invalidAddress &+= 1
                case .illegalVector: c.illegalVector &+= 1
                case .reservedDeliveryMode: c.reservedDeliveryMode &+= 1
                }
            }
            return false
        }
        let accepted = bus.deliver(message.apicMessage) > 0
        counts.withLock { c in
            if accepted { c.delivered &+= 1 } else { c.undeliverable &+= 1 }
        }
        return accepted
    }

    /// The counts so far.
    public var statistics: Counts { counts.withLock { $0 } }
}
