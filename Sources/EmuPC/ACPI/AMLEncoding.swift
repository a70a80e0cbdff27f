/// Why an AML construct could not be encoded.
public enum AMLError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A name segment or path that the AML grammar does not allow (ACPI 6.x, 20.2.2).
    case invalidName(String)
    /// A package or buffer body longer than a PkgLength can express (2^28 - 1 bytes).
    case tooLong(Int)
    /// A package with more than 255 elements (PackageOp's NumElements is one byte).
    case tooManyElements(Int)
    /// A string with a NUL or a non-ASCII character (AML strings are ASCII, NUL-terminated).
    case invalidString(String)
    /// An EISA ID that is not three upper-case letters and four hexadecimal digits.
    case invalidEISAID(String)
    /// A method argument count outside 0...7.
    case invalidArgumentCount(Int)
    /// A resource descriptor whose fields contradict each other (named by the message).
    case invalidResource(String)

    public var description: String {
        switch self {
        case .invalidName(let n): "invalid AML name \"\(n)\""
        case .tooLong(let n): "AML object of \(n) bytes is longer than a PkgLength can encode"
        case .tooManyElements(let n): "AML package of \(n) elements (at most 255)"
        case .invalidString(let s): "AML string \"\(s)\" is not plain ASCII without NUL"
        case .invalidEISAID(let s): "\"\(s)\" is not an EISA ID (three letters, four hex digits)"
        case .invalidArgumentCount(let n): "AML method with \(n) arguments (at most 7)"
        case .invalidResource(let why): "invalid resource descriptor: \(why)"
        }
    }
}

/// The primitive encodings of the ACPI Machine Language (ACPI 6.x, chapter 20): package
/// lengths, names and integers. Every function returns the exact bytes of the construct.
public enum AMLEncoding {
    /// The PkgLength that precedes a body of `contentLength` bytes (20.2.4).
    ///
    /// The encoded value counts itself: one byte holds values up to 63; otherwise bits 7-6 of the
    /// lead byte give the number (1-3) of following bytes, its bits 3-0 the low nibble, and each
    /// following byte the next 8 bits. The shortest form is chosen.
    /// - Throws: ``AMLError/tooLong(_:)`` when the total exceeds 2^28 - 1.
    public static func packageLength(contentLength: Int) throws(AMLError) -> [UInt8] {
        guard contentLength >= 0 else { throw .tooLong(contentLength) }
        if contentLength + 1 < 0x40 { return [UInt8(contentLength + 1)] }
        for extra in 1...3 {
            let total = contentLength + 1 + extra
            guard total < 1 << (4 + 8 * extra) else { continue }
            var bytes = [UInt8(extra << 6) | UInt8(total & 0x0F)]
            for i in 0..<extra { bytes.append(UInt8(truncatingIfNeeded: total >> (4 + 8 * i))) }
            return bytes
        }
        throw .tooLong(contentLength)
    }

    /// Prefixes `body` with its PkgLength.
    /// - Throws: ``AMLError/tooLong(_:)``.
    public static func withPackageLength(_ body: [UInt8]) throws(AMLError) -> [UInt8] {
        try packageLength(contentLength: body.count) + body
    }

    /// One NameSeg: a leading letter or underscore, then letters, digits or underscores, at most
    /// four characters, padded with underscores to four (20.2.2). Lower-case letters are refused.
    /// - Throws: ``AMLError/invalidName(_:)``.
    public static func nameSegment(_ segment: Substring) throws(AMLError) -> [UInt8] {
        let chars = Array(segment.utf8)
        guard (1...4).contains(chars.count) else { throw .invalidName(String(segment)) }
        for (i, c) in chars.enumerated() {
            let upper = c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z")
            let digit = c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")
            let underscore = c == UInt8(ascii: "_")
            guard upper || underscore || (digit && i > 0) else { throw .invalidName(String(segment)) }
        }
        return chars + [UInt8](repeating: UInt8(ascii: "_"), count: 4 - chars.count)
    }

    /// A NameString: optional root (`\`) or parent (`^`, repeated) prefix, then dot-separated
    /// segments, encoded as one NameSeg, a DualNamePath (0x2E), or a MultiNamePath (0x2F, count);
    /// a bare prefix gets a NullName (0x00).
    /// - Throws: ``AMLError/invalidName(_:)`` for an empty or malformed path.
    public static func nameString(_ path: String) throws(AMLError) -> [UInt8] {
        var rest = Substring(path)
        var prefix: [UInt8] = []
        if rest.first == "\\" {
            prefix = [0x5C]
            rest = rest.dropFirst()
        } else {
            while rest.first == "^" {
                prefix.append(0x5E)
                rest = rest.dropFirst()
            }
        }
        if rest.isEmpty {
            guard !prefix.isEmpty else { throw .invalidName(path) }
            return prefix + [0x00]
        }
        let parts = rest.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 255 else { throw .invalidName(path) }
        var segments: [UInt8] = []
        for part in parts { segments += try nameSegment(part) }
        switch parts.count {
        case 1: return prefix + segments
        case 2: return prefix + [0x2E] + segments
        default: return prefix + [0x2F, UInt8(parts.count)] + segments
        }
    }

    /// An integer constant in its shortest encoding: ZeroOp, OneOp, OnesOp (all 64 bits set),
    /// or BytePrefix/WordPrefix/DWordPrefix/QWordPrefix with the little-endian value (20.2.3).
    public static func integer(_ value: UInt64) -> [UInt8] {
        switch value {
        case 0: return [0x00]
        case 1: return [0x01]
        case .max: return [0xFF]
        case ...0xFF: return [0x0A, UInt8(value)]
        case ...0xFFFF: return [0x0B] + littleEndian(value, bytes: 2)
        case ...0xFFFF_FFFF: return [0x0C] + littleEndian(value, bytes: 4)
        default: return [0x0E] + littleEndian(value, bytes: 8)
        }
    }

    /// A string constant: StringPrefix (0x0D), the ASCII characters, NUL.
    /// - Throws: ``AMLError/invalidString(_:)`` for NUL or non-ASCII characters.
    public static func string(_ text: String) throws(AMLError) -> [UInt8] {
        let chars = Array(text.utf8)
        guard chars.allSatisfy({ $0 > 0 && $0 < 0x80 }) else { throw .invalidString(text) }
        return [0x0D] + chars + [0x00]
    }

    /// The 32-bit compressed EISA ID of `id` ("PNP0A03"): three letters in 5 bits each and four
    /// hex digits, stored big-endian (as ASL's `EisaId()` produces), returned as the integer AML
    /// reads little-endian.
    /// - Throws: ``AMLError/invalidEISAID(_:)``.
    public static func eisaIDValue(_ id: String) throws(AMLError) -> UInt32 {
        let chars = Array(id.utf8)
        guard chars.count == 7 else { throw .invalidEISAID(id) }
        var letters: UInt32 = 0
        for c in chars[0..<3] {
            guard c >= UInt8(ascii: "A"), c <= UInt8(ascii: "Z") else { throw .invalidEISAID(id) }
            letters = letters << 5 | UInt32(c - 0x40)
        }
        var product: UInt32 = 0
        for c in chars[3..<7] {
            guard let digit = hexDigit(c) else { throw .invalidEISAID(id) }
            product = product << 4 | UInt32(digit)
        }
        let bigEndian = letters << 16 | product
        return bigEndian.byteSwapped
    }

    /// The AML integer of an EISA ID (a DWordConst).
    /// - Throws: ``AMLError/invalidEISAID(_:)``.
    public static func eisaID(_ id: String) throws(AMLError) -> [UInt8] {
        integer(UInt64(try eisaIDValue(id)))
    }

    /// The low `bytes` bytes of `value`, little-endian.
    public static func littleEndian(_ value: UInt64, bytes: Int) -> [UInt8] {
        (0..<bytes).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }

    private static func hexDigit(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
