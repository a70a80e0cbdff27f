/// One 64-bit redirection table entry of an IOAPIC (82093AA layout).
struct IOAPICRedirectionEntry: Sendable, Equatable {
    /// The raw entry.
    var raw: UInt64

    static let deliveryStatus: UInt64 = 1 << 12
    static let activeLow: UInt64 = 1 << 13
    static let remoteIRR: UInt64 = 1 << 14
    static let levelTriggered: UInt64 = 1 << 15
    static let masked: UInt64 = 1 << 16
    /// Bits of the low dword software writes: vector, delivery mode, destination mode,
    /// polarity, trigger mode and mask (delivery status and remote IRR are read-only).
    static let writableLow: UInt32 = 0x0001_AFFF
    /// Bits of the high dword software writes: the destination (63:56).
    static let writableHigh: UInt32 = 0xFF00_0000

    /// After reset: masked, everything else zero.
    static let reset = IOAPICRedirectionEntry(raw: masked)

    var vector: UInt8 { UInt8(truncatingIfNeeded: raw) }
    var deliveryModeBits: UInt8 { UInt8((raw >> 8) & 7) }
    var isLogical: Bool { raw & (1 << 11) != 0 }
    var isActiveLow: Bool { raw & Self.activeLow != 0 }
    var isMasked: Bool { raw & Self.masked != 0 }
    var destination: UInt8 { UInt8(raw >> 56) }
    var remoteIRRSet: Bool {
        get { raw & Self.remoteIRR != 0 }
        set { if newValue { raw |= Self.remoteIRR } else { raw &= ~Self.remoteIRR } }
    }

    /// Level-triggered in the sense that matters: fixed and lowest-priority entries with the
    /// level bit (NMI, SMI, INIT and ExtINT are edge-only on the IOAPIC).
    var isLevelTriggered: Bool {
        raw & Self.levelTriggered != 0 && deliveryModeBits <= 1
    }

    /// The message this entry sends, or `nil` for a reserved or invalid delivery mode
    /// (3, and 6: startup IPIs cannot come from an IOAPIC).
    var message: APICMessage? {
        guard let mode = APICDeliveryMode(rawValue: deliveryModeBits), mode != .startup else { return nil }
        return APICMessage(destination: destination, destinationMode: isLogical ? .logical : .physical,
                           deliveryMode: mode, vector: vector, trigger: isLevelTriggered ? .level : .edge)
    }

    /// Writes the low dword's writable bits; changing to edge trigger clears the remote IRR
    /// (as hardware does, which older Linux uses in place of an EOI register).
    mutating func writeLow(_ value: UInt32) {
        let kept = raw & ~UInt64(Self.writableLow)
        raw = kept | UInt64(value & Self.writableLow)
        if raw & Self.levelTriggered == 0 { remoteIRRSet = false }
    }

    /// Writes the destination.
    mutating func writeHigh(_ value: UInt32) {
        raw = (raw & 0x0000_0000_FFFF_FFFF) | UInt64(value & Self.writableHigh) << 32
    }
}
