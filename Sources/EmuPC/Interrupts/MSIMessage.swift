/// An MSI or MSI-X message (address and data) decoded as the x86 APIC architecture defines it.
///
/// Address: bits 31:20 are 0xFEE, 19:12 the destination ID, bit 3 the redirection hint, bit 2
/// the destination mode (1 = logical); bits 63:32 are zero (no extended destination IDs).
/// Data: bits 7:0 the vector, 10:8 the delivery mode, 14 the level (assert), 15 the trigger mode.
public struct MSIMessage: Sendable, Hashable {
    /// Why a message was not decoded.
    public enum Refusal: Error, Sendable, Hashable {
        /// The address is not in 0xFEE0_0000–0xFEEF_FFFF.
        case notAnInterruptAddress
        /// A fixed or lowest-priority message with a vector below 16.
        case illegalVector
        /// Delivery mode 3 or 6 (reserved for MSI; startup IPIs cannot be MSIs).
        case reservedDeliveryMode
    }

    /// The message as it goes on the APIC bus.
    public let apicMessage: APICMessage
    /// The redirection hint: with logical destinations, deliver to one (lowest-priority) APIC.
    public let redirectionHint: Bool

    /// Decodes `address` and `data`.
    /// - Throws: ``Refusal`` for an address or data that is no valid interrupt message.
    public init(address: UInt64, data: UInt32) throws(Refusal) {
        guard address >> 20 == 0xFEE else { throw .notAnInterruptAddress }
        guard let mode = APICDeliveryMode(rawValue: UInt8((data >> 8) & 7)), mode != .startup else {
            throw .reservedDeliveryMode
        }
        let vector = UInt8(data & 0xFF)
        if (mode == .fixed || mode == .lowestPriority) && vector < 16 { throw .illegalVector }
        let logical = address & (1 << 2) != 0
        redirectionHint = address & (1 << 3) != 0
        let effectiveMode: APICDeliveryMode = redirectionHint && logical && mode == .fixed ? .lowestPriority : mode
        apicMessage = APICMessage(destination: UInt8((address >> 12) & 0xFF),
                                  destinationMode: logical ? .logical : .physical,
                                  deliveryMode: effectiveMode, vector: vector,
                                  trigger: data & (1 << 15) != 0 ? .level : .edge,
                                  assert: data & (1 << 14) != 0 || data & (1 << 15) == 0)
    }
}
