/// Reading descriptors from the GDT and LDT (Intel SDM Vol. 3A §3.5.1). The tables are at
/// linear addresses, read with implicit supervisor accesses, so paging applies and a table in
/// an unmapped page gives #PF.
public enum DescriptorTables {
    /// A descriptor and the linear address it was read from.
    public struct Fetched: Hashable, Sendable {
        public let descriptor: SegmentDescriptor
        public let address: UInt64
    }

    /// Reads the descriptor `selector` names (GDT when TI is 0, else the LDT), 16 bytes when
    /// `wide` (system descriptors in IA-32e mode).
    /// - Throws: #GP(`errorCode`) when the descriptor does not lie within the table's limit, or
    ///   the selector names the LDT while LDTR is null; the access's #PF. `errorCode` defaults to
    ///   the selector's error code.
    public static func fetch(_ selector: UInt16, wide: Bool = false, state: SystemState, memory: some LinearMemory,
                             errorCode: UInt32? = nil) throws(X86Exception) -> Fetched {
        let fault = X86Exception.generalProtection(errorCode ?? X86Exception.selectorErrorCode(selector))
        let base: UInt64
        let limit: UInt64
        if selector & 4 != 0 {
            guard !state.ldtr.attributes.isUnusable, state.ldtr.selector & 0xFFFC != 0 else { throw fault }
            base = state.ldtr.base
            limit = UInt64(state.ldtr.limit)
        } else {
            base = state.gdtr.base
            limit = UInt64(state.gdtr.limit)
        }
        let offset = UInt64(selector & 0xFFF8)
        guard offset + (wide ? 15 : 7) <= limit else { throw fault }
        let address = state.isLongModeActive ? base &+ offset : (base &+ offset) & 0xFFFF_FFFF
        let low = try memory.read(address, size: 8, .systemRead)
        let high = wide ? try memory.read(address &+ 8, size: 8, .systemRead) : 0
        return Fetched(descriptor: SegmentDescriptor(low: low, high: high), address: address)
    }

    /// Sets the accessed bit of a code or data descriptor if it is clear (a locked write of
    /// the type byte, SDM §3.4.5.1).
    /// - Throws: the write's #PF.
    public static func setAccessed(_ fetched: Fetched, memory: some LinearMemory) throws(X86Exception) {
        guard fetched.descriptor.isCodeOrData, !fetched.descriptor.isAccessed else { return }
        let typeByte = (fetched.descriptor.low >> 40) & 0xFF
        try memory.write(fetched.address &+ 5, size: 1, value: typeByte | 1, .systemWrite)
    }

    /// Sets the busy bit of an available TSS descriptor (LTR).
    static func setBusy(_ fetched: Fetched, memory: some LinearMemory) throws(X86Exception) {
        let typeByte = (fetched.descriptor.low >> 40) & 0xFF
        try memory.write(fetched.address &+ 5, size: 1, value: typeByte | 2, .systemWrite)
    }
}
