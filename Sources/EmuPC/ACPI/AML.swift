/// AML terms (ACPI 6.x, chapter 20): each function returns the complete encoding of one term,
/// built from the grammar's opcodes, so a definition block is a concatenation of calls.
///
/// Names are checked (``AMLError/invalidName(_:)``); bodies are wrapped with the shortest
/// PkgLength. Nothing here depends on where the table will be placed.
public enum AML {
    // MARK: Named objects and scopes

    /// `Name(path, value)`: NameOp, NameString, the data object.
    /// - Throws: ``AMLError/invalidName(_:)``.
    public static func name(_ path: String, _ value: [UInt8]) throws(AMLError) -> [UInt8] {
        [0x08] + (try AMLEncoding.nameString(path)) + value
    }

    /// `Scope(path) { body }`: ScopeOp, PkgLength, NameString, the terms.
    /// - Throws: ``AMLError/invalidName(_:)``, ``AMLError/tooLong(_:)``.
    public static func scope(_ path: String, _ body: [[UInt8]]) throws(AMLError) -> [UInt8] {
        [0x10] + (try AMLEncoding.withPackageLength(try AMLEncoding.nameString(path) + body.flatMap { $0 }))
    }

    /// `Device(path) { body }`: ExtOpPrefix DeviceOp (0x5B 0x82), PkgLength, NameString, the terms.
    /// - Throws: ``AMLError/invalidName(_:)``, ``AMLError/tooLong(_:)``.
    public static func device(_ path: String, _ body: [[UInt8]]) throws(AMLError) -> [UInt8] {
        [0x5B, 0x82] + (try AMLEncoding.withPackageLength(try AMLEncoding.nameString(path) + body.flatMap { $0 }))
    }

    /// `Method(path, argumentCount, Serialized/NotSerialized) { body }`: MethodOp (0x14),
    /// PkgLength, NameString, MethodFlags (bits 0-2 the argument count, bit 3 serialized,
    /// bits 4-7 the sync level, zero here), the terms.
    /// - Throws: ``AMLError/invalidArgumentCount(_:)``, ``AMLError/invalidName(_:)``, ``AMLError/tooLong(_:)``.
    public static func method(_ path: String, argumentCount: Int, serialized: Bool = false,
                              _ body: [[UInt8]]) throws(AMLError) -> [UInt8] {
        guard (0...7).contains(argumentCount) else { throw .invalidArgumentCount(argumentCount) }
        let flags = UInt8(argumentCount) | (serialized ? 0x08 : 0)
        return [0x14] + (try AMLEncoding.withPackageLength(try AMLEncoding.nameString(path) + [flags] + body.flatMap { $0 }))
    }

    // MARK: Data objects

    /// An integer in its shortest encoding (see ``AMLEncoding/integer(_:)``).
    public static func integer(_ value: UInt64) -> [UInt8] { AMLEncoding.integer(value) }

    /// A string constant.
    /// - Throws: ``AMLError/invalidString(_:)``.
    public static func string(_ text: String) throws(AMLError) -> [UInt8] { try AMLEncoding.string(text) }

    /// An EISA ID as ASL's `EisaId("PNP0A03")`.
    /// - Throws: ``AMLError/invalidEISAID(_:)``.
    public static func eisaID(_ id: String) throws(AMLError) -> [UInt8] { try AMLEncoding.eisaID(id) }

    /// `Package(n) { elements }`: PackageOp (0x12), PkgLength, NumElements (one byte), the elements.
    /// - Throws: ``AMLError/tooManyElements(_:)``, ``AMLError/tooLong(_:)``.
    public static func package(_ elements: [[UInt8]]) throws(AMLError) -> [UInt8] {
        guard elements.count <= 255 else { throw .tooManyElements(elements.count) }
        return [0x12] + (try AMLEncoding.withPackageLength([UInt8(elements.count)] + elements.flatMap { $0 }))
    }

    /// `Buffer() { bytes }`: BufferOp (0x11), PkgLength, BufferSize (an integer), the bytes.
    /// - Throws: ``AMLError/tooLong(_:)``.
    public static func buffer(_ bytes: [UInt8]) throws(AMLError) -> [UInt8] {
        [0x11] + (try AMLEncoding.withPackageLength(integer(UInt64(bytes.count)) + bytes))
    }

    /// `ToUUID("aabbccdd-eeff-gghh-iijj-kkllmmnnoopp")` as a 16-byte buffer, in the mixed-endian
    /// order of ACPI and UEFI: the first three fields little-endian, the last two as written.
    /// - Throws: ``AMLError/invalidString(_:)`` for a malformed UUID.
    public static func uuid(_ text: String) throws(AMLError) -> [UInt8] {
        let fields = text.split(separator: "-", omittingEmptySubsequences: false)
        guard fields.map(\.count) == [8, 4, 4, 4, 12] else { throw .invalidString(text) }
        var bytes: [UInt8] = []
        for (index, field) in fields.enumerated() {
            var fieldBytes: [UInt8] = []
            var chars = field.makeIterator()
            while let high = chars.next(), let low = chars.next() {
                guard let h = high.hexDigitValue, let l = low.hexDigitValue else { throw .invalidString(text) }
                fieldBytes.append(UInt8(h << 4 | l))
            }
            bytes += index < 3 ? fieldBytes.reversed() : fieldBytes
        }
        return try buffer(bytes)
    }

    /// `ResourceTemplate() { descriptors }`: a buffer of the descriptors and an End Tag (0x79)
    /// whose checksum byte is zero ("treat as valid", 6.4.2.9).
    /// - Throws: ``AMLError/invalidResource(_:)``, ``AMLError/tooLong(_:)``.
    public static func resourceTemplate(_ descriptors: [AMLResource]) throws(AMLError) -> [UInt8] {
        var bytes: [UInt8] = []
        for descriptor in descriptors { bytes += try descriptor.encoded() }
        return try buffer(bytes + [0x79, 0x00])
    }

    // MARK: Method bodies

    /// `ArgN` (0x68 + N) for N in 0...6; other values give Arg0.
    public static func arg(_ n: Int) -> [UInt8] { [0x68 + UInt8(clamping: (0...6).contains(n) ? n : 0)] }

    /// `LocalN` (0x60 + N) for N in 0...7; other values give Local0.
    public static func local(_ n: Int) -> [UInt8] { [0x60 + UInt8(clamping: (0...7).contains(n) ? n : 0)] }

    /// A reference to a named object (its NameString), as an operand or target.
    /// - Throws: ``AMLError/invalidName(_:)``.
    public static func reference(_ path: String) throws(AMLError) -> [UInt8] { try AMLEncoding.nameString(path) }

    /// `Return(value)`: ReturnOp (0xA4), the operand.
    public static func returnValue(_ value: [UInt8]) -> [UInt8] { [0xA4] + value }

    /// `If(predicate) { body }`: IfOp (0xA0), PkgLength, the predicate, the terms.
    /// - Throws: ``AMLError/tooLong(_:)``.
    public static func ifThen(_ predicate: [UInt8], _ body: [[UInt8]]) throws(AMLError) -> [UInt8] {
        [0xA0] + (try AMLEncoding.withPackageLength(predicate + body.flatMap { $0 }))
    }

    /// `LEqual(a, b)`: LEqualOp (0x93).
    public static func logicalEqual(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] { [0x93] + a + b }

    /// `LNot(a)`: LNotOp (0x92).
    public static func logicalNot(_ a: [UInt8]) -> [UInt8] { [0x92] + a }

    /// `Or(a, b, target)`: OrOp (0x7D), two operands, the target (NullName 0x00 for none).
    public static func or(_ a: [UInt8], _ b: [UInt8], into target: [UInt8] = [0x00]) -> [UInt8] {
        [0x7D] + a + b + target
    }

    /// `CreateDWordField(source, byteIndex, name)`: CreateDWordFieldOp (0x8A).
    /// - Throws: ``AMLError/invalidName(_:)``.
    public static func createDWordField(_ source: [UInt8], byteIndex: [UInt8], _ name: String) throws(AMLError) -> [UInt8] {
        [0x8A] + source + byteIndex + (try AMLEncoding.nameString(name))
    }
}
