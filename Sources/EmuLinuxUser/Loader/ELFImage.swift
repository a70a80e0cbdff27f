import EmuTCG

/// Errors loading a guest program.
public enum LoaderError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file could not be opened or read.
    case unreadable(path: String, errno: Int32)
    /// Not an x86-64 ELF executable we can run (with the reason).
    case notExecutable(String)
    /// A header field is out of range or inconsistent (with the reason).
    case malformed(String)
    /// The program's interpreter (PT_INTERP, the dynamic loader) cannot be used: it is
    /// unreadable, malformed, itself names an interpreter, or overlaps the program (with the reason).
    case badInterpreter(String)
    /// A segment does not fit the guest address space.
    case noRoom(String)

    public var description: String {
        switch self {
        case .unreadable(let path, let e): return "cannot read \(path): errno \(e)"
        case .notExecutable(let why): return "not an x86-64 Linux executable: \(why)"
        case .malformed(let why): return "malformed ELF file: \(why)"
        case .badInterpreter(let why): return "bad interpreter: \(why)"
        case .noRoom(let why): return "does not fit the guest address space: \(why)"
        }
    }
}

/// One program header of an ELF64 file.
public struct ProgramHeader: Sendable, Equatable {
    public var type: UInt32
    public var flags: UInt32
    public var offset: UInt64
    public var virtualAddress: UInt64
    public var fileSize: UInt64
    public var memorySize: UInt64
    public var alignment: UInt64

    public static let load: UInt32 = 1
    public static let interpreter: UInt32 = 3
    public static let phdr: UInt32 = 6
    public static let tls: UInt32 = 7
}

/// A parsed ELF64 x86-64 executable: header fields and program headers, every one checked
/// against the file size.
public struct ELFImage: Sendable {
    /// The file's bytes.
    public let bytes: [UInt8]
    /// ET_EXEC (2) or ET_DYN (3, position-independent).
    public let type: UInt16
    public let entry: UInt64
    public let programHeaderOffset: UInt64
    public let programHeaderEntrySize: UInt16
    public let programHeaders: [ProgramHeader]
    /// The interpreter path named by PT_INTERP (a dynamically linked program), nil for a static one.
    public let interpreterPath: String?

    /// Whether the image is position-independent (loaded at a base we choose).
    public var isPositionIndependent: Bool { type == 3 }

    /// Parses `bytes`. Every PT_LOAD and PT_INTERP must lie inside the file, PT_LOAD alignments
    /// must be zero or a power of two and addresses must not wrap; at most one PT_INTERP, whose
    /// path is 2 … 4096 bytes ending in NUL and not empty.
    /// - Throws: `LoaderError.notExecutable` or `.malformed` for anything unexpected.
    public init(bytes: [UInt8]) throws(LoaderError) {
        self.bytes = bytes
        guard bytes.count >= 64 else { throw .notExecutable("shorter than an ELF header") }
        guard bytes[0] == 0x7F, bytes[1] == 0x45, bytes[2] == 0x4C, bytes[3] == 0x46 else { throw .notExecutable("no ELF magic") }
        guard bytes[4] == 2 else { throw .notExecutable("not 64-bit") }
        guard bytes[5] == 1 else { throw .notExecutable("not little-endian") }
        type = Self.u16(bytes, 16)
        guard type == 2 || type == 3 else { throw .notExecutable("ELF type \(type) is not an executable") }
        guard Self.u16(bytes, 18) == 62 else { throw .notExecutable("machine \(Self.u16(bytes, 18)) is not x86-64") }
        entry = Self.u64(bytes, 24)
        programHeaderOffset = Self.u64(bytes, 32)
        programHeaderEntrySize = Self.u16(bytes, 54)
        let count = Int(Self.u16(bytes, 56))
        guard programHeaderEntrySize == 56 else { throw .malformed("program header size \(programHeaderEntrySize)") }
        guard count > 0, count <= 512 else { throw .malformed("\(count) program headers") }
        guard programHeaderOffset < UInt64(bytes.count),
              UInt64(count) * 56 <= UInt64(bytes.count) - programHeaderOffset else {
            throw .malformed("program headers outside the file")
        }
        var headers: [ProgramHeader] = []
        for i in 0..<count {
            let o = Int(programHeaderOffset) + i * 56
            let h = ProgramHeader(type: Self.u32(bytes, o), flags: Self.u32(bytes, o + 4), offset: Self.u64(bytes, o + 8),
                                  virtualAddress: Self.u64(bytes, o + 16), fileSize: Self.u64(bytes, o + 32),
                                  memorySize: Self.u64(bytes, o + 40), alignment: Self.u64(bytes, o + 48))
            if h.type == ProgramHeader.load || h.type == ProgramHeader.interpreter {
                guard h.offset <= UInt64(bytes.count), h.fileSize <= UInt64(bytes.count) - h.offset else {
                    throw .malformed("segment \(i) extends past the end of the file")
                }
            }
            if h.type == ProgramHeader.load {
                guard h.fileSize <= h.memorySize else { throw .malformed("segment \(i) file size exceeds memory size") }
                guard h.alignment & (h.alignment &- 1) == 0 else { throw .malformed("segment \(i) alignment \(h.alignment)") }
                guard h.virtualAddress <= UInt64.max - h.memorySize - GuestAddressSpace.pageSize else {
                    throw .malformed("segment \(i) wraps the address space")
                }
            }
            headers.append(h)
        }
        programHeaders = headers
        let interpreters = headers.filter { $0.type == ProgramHeader.interpreter }
        guard interpreters.count <= 1 else { throw .malformed("\(interpreters.count) interpreter headers") }
        if let interp = interpreters.first {
            guard interp.fileSize >= 2, interp.fileSize <= 4096 else { throw .malformed("interpreter path of \(interp.fileSize) bytes") }
            let raw = bytes[Int(interp.offset)..<Int(interp.offset + interp.fileSize)]
            // As Linux: the last byte must be NUL and the path is the string up to the first.
            let path = raw.prefix { $0 != 0 }
            guard raw.last == 0, !path.isEmpty else { throw .malformed("interpreter path is not a NUL-terminated string") }
            interpreterPath = String(decoding: path, as: UTF8.self)
        } else {
            interpreterPath = nil
        }
        guard headers.contains(where: { $0.type == ProgramHeader.load }) else { throw .malformed("no loadable segment") }
    }

    static func u16(_ b: [UInt8], _ o: Int) -> UInt16 { UInt16(b[o]) | UInt16(b[o + 1]) << 8 }
    static func u32(_ b: [UInt8], _ o: Int) -> UInt32 {
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(b[o + i]) << (8 * UInt32(i)) }
        return v
    }
    static func u64(_ b: [UInt8], _ o: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(b[o + i]) << (8 * UInt64(i)) }
        return v
    }
}
