import Atomics

/// An executor mailbox's attention byte, in memory of its own so that generated host code can
/// read it at a fixed address (at block exits) as well as Swift through atomics.
///
/// `Sendable`: every access goes through the atomic; the address is a plain number.
struct AttentionWord: Sendable {
    let atomic: UnsafeAtomic<UInt8>
    /// The byte's host address.
    let address: UInt

    /// A fresh word holding zero; `destroy()` frees it.
    static func create() -> AttentionWord {
        let storage = UnsafeMutablePointer<UnsafeAtomic<UInt8>.Storage>.allocate(capacity: 1)
        storage.initialize(to: UnsafeAtomic<UInt8>.Storage(0))
        return AttentionWord(atomic: UnsafeAtomic(at: storage), address: UInt(bitPattern: storage))
    }

    func destroy() { atomic.destroy() }

    /// The bits, with acquire ordering.
    func loadAcquiring() -> UInt8 { atomic.load(ordering: .acquiring) }

    /// The bits, without ordering.
    func loadRelaxed() -> UInt8 { atomic.load(ordering: .relaxed) }

    /// Sets `bits` with release ordering.
    func set(_ bits: UInt8) { _ = atomic.loadThenBitwiseOr(with: bits, ordering: .releasing) }

    /// Clears `bits` with acquire ordering.
    func clearAcquiring(_ bits: UInt8) { _ = atomic.loadThenBitwiseAnd(with: ~bits, ordering: .acquiring) }

    /// Clears `bits` without ordering.
    func clearRelaxed(_ bits: UInt8) { _ = atomic.loadThenBitwiseAnd(with: ~bits, ordering: .relaxed) }
}
