import EmuCore
#if canImport(Glibc)
import Glibc
#endif

/// A built set of ACPI tables: one contiguous image for guest address ``base`` (RSDP first),
/// and each table's place in it.
public struct ACPITableSet: Sendable, Equatable {
    /// One table (or the RSDP / FACS) in the image.
    public struct Entry: Sendable, Equatable {
        /// "RSDP", "FACS", or the table's signature.
        public var signature: String
        /// Its guest-physical address.
        public var address: UInt64
        /// Its bytes.
        public var bytes: [UInt8]
    }

    /// The guest-physical address of the image's first byte (the RSDP).
    public let base: UInt64
    /// The bytes to place at ``base``.
    public let image: [UInt8]
    /// The tables in image order, the RSDP first.
    public let entries: [Entry]

    /// The RSDP's guest-physical address (for `boot_params.acpi_rsdp_addr`).
    public var rsdpAddress: UInt64 { base }

    /// The table called `signature`, if present.
    public func entry(_ signature: String) -> Entry? { entries.first { $0.signature == signature } }

    /// Copies the image into guest memory at ``base``.
    /// - Throws: ``GuestMemoryError`` when the range is not all RAM.
    public func write(to memory: some GuestMemory) throws(GuestMemoryError) {
        try memory.write(image, at: base)
    }

    /// Writes each table to `directory` as `<signature in lower case>.dat` (`rsdp.dat`,
    /// `facp.dat`, `dsdt.dat`, ...), the form `iasl -d` reads. Creates the directory if missing;
    /// replaces files of those names.
    /// - Throws: ``SystemCallError`` from `mkdir`, `open` or `write`.
    public func dump(toDirectory directory: String) throws(SystemCallError) {
        if mkdir(directory, 0o755) != 0, errno != EEXIST { throw .current("mkdir \(directory)") }
        for entry in entries {
            let path = directory + "/" + entry.signature.lowercased() + ".dat"
            try Self.writeFile(path, entry.bytes)
        }
    }

    static func writeFile(_ path: String, _ bytes: [UInt8]) throws(SystemCallError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .current("open \(path)") }
        defer { close(fd) }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                Glibc.write(fd, raw.baseAddress.map { $0 + done }, bytes.count - done)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw .current("write \(path)")
            }
            done += n
        }
    }
}
