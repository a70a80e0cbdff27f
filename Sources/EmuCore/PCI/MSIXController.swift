import Synchronization

/// MSI-X for one PCI function (PCI 3.0 §6.8.2): the capability in configuration space, the vector
/// table and the pending-bit array (both to be exposed in a BAR through ``tableRead(offset:size:)``
/// and friends), masking, and delivery of a vector as a message write.
///
/// All table contents come from the guest: a vector is delivered exactly to the address/data
/// the guest wrote; masked vectors are held pending and sent when unmasked.
public final class MSIXController: Sendable {
    /// Number of vectors (1...2048).
    public let vectorCount: Int
    /// Offset of the capability in configuration space.
    public let capabilityOffset: Int
    private let config: PCIConfigurationSpace
    private let deliver: @Sendable (_ address: UInt64, _ data: UInt32) -> Void
    private let state: Mutex<State>

    private struct State {
        var table: [UInt32]   // 4 dwords per vector: address low, address high, data, vector control
        var pending: [Bool]
    }

    /// The capability ID.
    public static let capabilityID: UInt8 = 0x11
    private static let enableBit: UInt16 = 1 << 15
    private static let functionMaskBit: UInt16 = 1 << 14

    /// Adds the capability to `config` with the table at `tableOffset` and the PBA at
    /// `pbaOffset` of BAR `bar` (offsets 8-byte aligned). `deliver` sends a message (the
    /// interrupt controller's job); it is called outside the controller's lock.
    /// - Throws: ``PCIConfigurationError`` if the capability does not fit.
    public init(vectors: Int, config: PCIConfigurationSpace, bar: Int, tableOffset: UInt32, pbaOffset: UInt32,
                deliver: @escaping @Sendable (_ address: UInt64, _ data: UInt32) -> Void) throws(PCIConfigurationError) {
        let n = min(max(vectors, 1), 2048)
        vectorCount = n
        self.config = config
        self.deliver = deliver
        // Vectors start masked (PCI: vector control bit 0 set after reset).
        state = Mutex(State(table: (0..<n).flatMap { _ in [0, 0, 0, 1] }, pending: Array(repeating: false, count: n)))
        let control = UInt16(n - 1)
        let table = tableOffset | UInt32(bar & 7), pba = pbaOffset | UInt32(bar & 7)
        var body: [UInt8] = [UInt8(control & 0xFF), UInt8(control >> 8)]
        for v in [table, pba] { body += (0..<4).map { UInt8((v >> (8 * UInt32($0))) & 0xFF) } }
        let mask: [UInt8] = [0, 0xC0, 0, 0, 0, 0, 0, 0, 0, 0]
        capabilityOffset = try config.addCapability(id: Self.capabilityID, body: body, writableMask: mask)
    }

    private var control: UInt16 { UInt16(config.read(offset: capabilityOffset + 2, size: 2)) }

    /// Whether the guest enabled MSI-X (then INTx is not used).
    public var isEnabled: Bool { control & Self.enableBit != 0 }

    /// Bytes of the table in the BAR.
    public var tableSize: Int { 16 * vectorCount }
    /// Bytes of the pending-bit array in the BAR.
    public var pbaSize: Int { ((vectorCount + 63) / 64) * 8 }

    /// Signals `vector`: sent now, or held pending while masked. Returns `false` if MSI-X is
    /// disabled or `vector` does not exist (the caller falls back to INTx or drops it).
    @discardableResult
    public func signal(_ vector: Int) -> Bool {
        guard isEnabled, vector >= 0, vector < vectorCount else { return false }
        let functionMasked = control & Self.functionMaskBit != 0
        let message = state.withLock { s -> (UInt64, UInt32)? in
            if functionMasked || s.table[4 * vector + 3] & 1 != 0 {
                s.pending[vector] = true
                return nil
            }
            return (UInt64(s.table[4 * vector]) | UInt64(s.table[4 * vector + 1]) << 32, s.table[4 * vector + 2])
        }
        if let (address, data) = message { deliver(address, data) }
        return true
    }

    /// Reads the table (4-byte aligned dword accesses; others read 0).
    public func tableRead(offset: UInt64, size: Int) -> UInt32 {
        guard size == 4, offset & 3 == 0, offset < UInt64(tableSize) else { return 0 }
        return state.withLock { $0.table[Int(offset / 4)] }
    }

    /// Writes the table; unmasking a vector with a pending message sends it.
    public func tableWrite(offset: UInt64, size: Int, value: UInt32) {
        guard size == 4, offset & 3 == 0, offset < UInt64(tableSize) else { return }
        let word = Int(offset / 4)
        state.withLock { s in s.table[word] = word % 4 == 3 ? value & 1 : value }
        if word % 4 == 3 { deliverPending() }
    }

    /// Reads the pending-bit array.
    public func pbaRead(offset: UInt64, size: Int) -> UInt32 {
        guard size == 4, offset & 3 == 0, offset < UInt64(pbaSize) else { return 0 }
        let first = Int(offset) * 8
        return state.withLock { s in
            (0..<32).reduce(UInt32(0)) { bits, i in first + i < s.pending.count && s.pending[first + i] ? bits | 1 << UInt32(i) : bits }
        }
    }

    /// Sends every pending vector that is no longer masked; call after the guest changes the
    /// capability's control word.
    public func deliverPending() {
        guard isEnabled, control & Self.functionMaskBit == 0 else { return }
        let messages = state.withLock { s -> [(UInt64, UInt32)] in
            var out: [(UInt64, UInt32)] = []
            for v in 0..<vectorCount where s.pending[v] && s.table[4 * v + 3] & 1 == 0 {
                s.pending[v] = false
                out.append((UInt64(s.table[4 * v]) | UInt64(s.table[4 * v + 1]) << 32, s.table[4 * v + 2]))
            }
            return out
        }
        messages.forEach { deliver($0.0, $0.1) }
    }

    /// Back to the reset state: every vector masked, nothing pending, MSI-X disabled.
    public func reset() {
        state.withLock { s in
            s.table = (0..<vectorCount).flatMap { _ in [0, 0, 0, 1] }
            s.pending = Array(repeating: false, count: vectorCount)
        }
        config.withBytes { bytes in bytes[capabilityOffset + 3] &= 0x3F }
    }
}
