/// A qcow2 image header (versions 2 and 3) with the header extensions we understand, parsed
/// from the image's first cluster and validated against hostile values before anything trusts it.
///
/// Guarantees of a parsed header: version 2 or 3; cluster size 512 B...2 MiB; no encryption; no
/// incompatible feature we do not implement; refcount width 1...64 bits; L1 table big enough for
/// the virtual size and at most 32 MiB; refcount table at most 8 MiB; tables cluster-aligned;
/// the backing file name and every extension inside the first cluster.
public struct Qcow2Header: Sendable, Equatable {
    /// `QFI\xfb`.
    public static let magic: UInt32 = 0x5146_49FB
    /// The largest L1 table we load (qemu's limit too): 32 MiB.
    public static let maximumL1Bytes = 32 << 20
    /// The largest refcount table we load: 8 MiB.
    public static let maximumRefcountTableBytes = 8 << 20
    /// Incompatible feature bits.
    public static let dirtyBit: UInt64 = 1 << 0
    /// The image is known to be corrupt; it may only be opened read-only.
    public static let corruptBit: UInt64 = 1 << 1
    static let knownIncompatible: UInt64 = dirtyBit | corruptBit

    static let backingFormatExtension: UInt32 = 0xE279_2ACA
    static let featureTableExtension: UInt32 = 0x6803_F857

    /// 2 or 3.
    public var version: UInt32
    /// log2 of the cluster size (9...21).
    public var clusterBits: Int
    /// The virtual disk size in bytes.
    public var size: UInt64
    /// L1 entries.
    public var l1Size: UInt32
    /// Where the L1 table is.
    public var l1TableOffset: UInt64
    /// Where the refcount table is.
    public var refcountTableOffset: UInt64
    /// The refcount table's length in clusters.
    public var refcountTableClusters: UInt32
    /// Internal snapshots (we read images with them, but do not write them).
    public var snapshotCount: UInt32
    /// Where the snapshot table is.
    public var snapshotsOffset: UInt64
    /// Incompatible feature bits (v3).
    public var incompatibleFeatures: UInt64
    /// Compatible feature bits (v3).
    public var compatibleFeatures: UInt64
    /// Auto-clear feature bits (v3).
    public var autoclearFeatures: UInt64
    /// log2 of the refcount width in bits (v2: 4).
    public var refcountOrder: Int
    /// The header's length in bytes (v2: 72).
    public var headerLength: Int
    /// The backing file name, if any.
    public var backingFile: String?
    /// The backing format from the header extension, if any.
    public var backingFormat: String?

    /// The cluster size in bytes.
    public var clusterSize: Int { 1 << clusterBits }
    /// Whether the dirty bit is set (refcounts may be stale).
    public var isDirty: Bool { incompatibleFeatures & Self.dirtyBit != 0 }
    /// Whether the corrupt bit is set.
    public var isMarkedCorrupt: Bool { incompatibleFeatures & Self.corruptBit != 0 }

    /// L1 entries needed for `size` with `clusterBits`, or nil on overflow.
    static func l1EntriesNeeded(size: UInt64, clusterBits: Int) -> UInt64? {
        let bytesPerL2 = UInt64(1) << UInt64(clusterBits + clusterBits - 3)
        let (padded, overflow) = size.addingReportingOverflow(bytesPerL2 - 1)
        if overflow { return nil }
        return padded / bytesPerL2
    }

    /// Parses and validates the header from the image's leading bytes (`bytes` holds at least
    /// the first cluster, or the whole file if that is shorter). Throws `corrupt` for a malformed
    /// or hostile header, `unsupported` for encryption, unknown incompatible features, external
    /// data files, non-zlib compression or extended L2 entries.
    public static func parse(_ bytes: [UInt8], fileLength: UInt64) throws(BlockError) -> Qcow2Header {
        guard bytes.count >= 72 else { throw .corrupt("file too short for a qcow2 header (\(bytes.count) bytes)") }
        guard bytes.bigEndian32(at: 0) == magic else { throw .corrupt("not a qcow2 image (bad magic)") }
        let version = bytes.bigEndian32(at: 4)
        guard version == 2 || version == 3 else { throw .unsupported("qcow2 version \(version)") }
        let clusterBits = Int(bytes.bigEndian32(at: 20))
        guard (9...21).contains(clusterBits) else { throw .corrupt("cluster bits \(clusterBits) outside 9...21") }
        let clusterSize = 1 << clusterBits
        guard bytes.bigEndian32(at: 32) == 0 else { throw .unsupported("encrypted qcow2 images") }

        var header = Qcow2Header(
            version: version, clusterBits: clusterBits, size: bytes.bigEndian64(at: 24),
            l1Size: bytes.bigEndian32(at: 36), l1TableOffset: bytes.bigEndian64(at: 40),
            refcountTableOffset: bytes.bigEndian64(at: 48), refcountTableClusters: bytes.bigEndian32(at: 56),
            snapshotCount: bytes.bigEndian32(at: 60), snapshotsOffset: bytes.bigEndian64(at: 64),
            incompatibleFeatures: 0, compatibleFeatures: 0, autoclearFeatures: 0,
            refcountOrder: 4, headerLength: 72, backingFile: nil, backingFormat: nil)

        if version == 3 {
            guard bytes.count >= 104 else { throw .corrupt("file too short for a version 3 header") }
            header.incompatibleFeatures = bytes.bigEndian64(at: 72)
            header.compatibleFeatures = bytes.bigEndian64(at: 80)
            header.autoclearFeatures = bytes.bigEndian64(at: 88)
            header.refcountOrder = Int(bytes.bigEndian32(at: 96))
            header.headerLength = Int(bytes.bigEndian32(at: 100))
            guard header.headerLength >= 104, header.headerLength <= clusterSize, header.headerLength % 8 == 0 || header.headerLength == 104 else {
                throw .corrupt("header length \(header.headerLength) outside 104...\(clusterSize)")
            }
            guard header.headerLength <= bytes.count else { throw .corrupt("file ends inside the header") }
            guard header.refcountOrder <= 6 else { throw .corrupt("refcount order \(header.refcountOrder) above 6") }
        }

        // Header extensions: inside the first cluster, each bounded by what is left.
        var featureNames: [Int: String] = [:]
        var position = header.headerLength
        let limit = min(bytes.count, clusterSize)
        var extensionCount = 0
        while position + 8 <= limit {
            let type = bytes.bigEndian32(at: position)
            let length = Int(bytes.bigEndian32(at: position + 4))
            if type == 0 { break }
            extensionCount += 1
            guard extensionCount <= 1024 else { throw .corrupt("too many header extensions") }
            let dataStart = position + 8
            guard length <= limit - dataStart else { throw .corrupt("header extension 0x\(String(type, radix: 16)) runs past the first cluster") }
            let data = Array(bytes[dataStart..<(dataStart + length)])
            switch type {
            case backingFormatExtension:
                header.backingFormat = String(decoding: data, as: UTF8.self)
            case featureTableExtension:
                var entry = 0
                while entry + 48 <= data.count {
                    if data[entry] == 0 {
                        let name = data[(entry + 2)..<(entry + 48)].prefix { $0 != 0 }
                        featureNames[Int(data[entry + 1])] = String(decoding: name, as: UTF8.self)
                    }
                    entry += 48
                }
            case 0x4441_5441: throw .unsupported("qcow2 external data files")
            case 0x0537_BE77: throw .unsupported("encrypted qcow2 images")
            default: break  // bitmaps and others we do not use; their autoclear bit is cleared on write
            }
            position = dataStart + (length + 7) / 8 * 8
        }

        let unknown = header.incompatibleFeatures & ~knownIncompatible
        if unknown != 0 {
            var names: [String] = []
            for bit in 0..<64 where unknown & (1 << UInt64(bit)) != 0 {
                if let name = featureNames[bit] { names.append("\(name) (bit \(bit))") } else {
                    switch bit {
                    case 2: names.append("external data file (bit 2)")
                    case 3: names.append("compression type (bit 3)")
                    case 4: names.append("extended L2 entries (bit 4)")
                    default: names.append("bit \(bit)")
                    }
                }
            }
            throw .unsupported("qcow2 incompatible features: \(names.joined(separator: ", "))")
        }

        // Backing file name.
        let backingOffset = bytes.bigEndian64(at: 8)
        let backingLength = UInt64(bytes.bigEndian32(at: 16))
        if backingOffset != 0 && backingLength != 0 {
            guard backingLength <= 1023, backingOffset < UInt64(limit), backingOffset + backingLength <= UInt64(limit) else {
                throw .corrupt("backing file name (\(backingLength) bytes at \(backingOffset)) outside the first cluster")
            }
            let start = Int(backingOffset)
            header.backingFile = String(decoding: bytes[start..<(start + Int(backingLength))], as: UTF8.self)
        }

        // Tables.
        guard let needed = l1EntriesNeeded(size: header.size, clusterBits: clusterBits) else {
            throw .corrupt("virtual size \(header.size) too large")
        }
        guard UInt64(header.l1Size) * 8 <= UInt64(maximumL1Bytes) else {
            throw .corrupt("L1 table of \(header.l1Size) entries exceeds \(maximumL1Bytes) bytes")
        }
        guard UInt64(header.l1Size) >= needed else {
            throw .corrupt("L1 table of \(header.l1Size) entries too small for \(header.size) bytes")
        }
        let mask = UInt64(clusterSize - 1)
        if header.l1Size > 0 {
            guard header.l1TableOffset & mask == 0, header.l1TableOffset != 0 else {
                throw .corrupt("L1 table offset \(header.l1TableOffset) unaligned")
            }
            let (end, overflow) = header.l1TableOffset.addingReportingOverflow(UInt64(header.l1Size) * 8)
            guard !overflow, end <= fileLength else { throw .corrupt("L1 table at \(header.l1TableOffset) lies past the end of the file") }
        }
        guard header.refcountTableOffset & mask == 0, header.refcountTableOffset != 0 else {
            throw .corrupt("refcount table offset \(header.refcountTableOffset) unaligned")
        }
        guard header.refcountTableClusters > 0,
              UInt64(header.refcountTableClusters) * UInt64(clusterSize) <= UInt64(maximumRefcountTableBytes) else {
            throw .corrupt("refcount table of \(header.refcountTableClusters) clusters outside 1...\(maximumRefcountTableBytes) bytes")
        }
        let (tableEnd, tableOverflow) = header.refcountTableOffset.addingReportingOverflow(UInt64(header.refcountTableClusters) << UInt64(clusterBits))
        guard !tableOverflow, tableEnd <= fileLength else {
            throw .corrupt("refcount table at \(header.refcountTableOffset) lies past the end of the file")
        }
        return header
    }

    /// The first cluster as we write it: the version 3 header (length 112, zlib), the backing
    /// format extension, the end marker, then the backing file name. Throws `invalidArgument` if
    /// the names do not fit in the cluster or the name exceeds 1023 bytes.
    func serialized() throws(BlockError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: clusterSize)
        bytes.setBigEndian32(Self.magic, at: 0)
        bytes.setBigEndian32(version, at: 4)
        bytes.setBigEndian32(UInt32(clusterBits), at: 20)
        bytes.setBigEndian64(size, at: 24)
        bytes.setBigEndian32(l1Size, at: 36)
        bytes.setBigEndian64(l1TableOffset, at: 40)
        bytes.setBigEndian64(refcountTableOffset, at: 48)
        bytes.setBigEndian32(refcountTableClusters, at: 56)
        bytes.setBigEndian32(snapshotCount, at: 60)
        bytes.setBigEndian64(snapshotsOffset, at: 64)
        var position = 72
        if version == 3 {
            bytes.setBigEndian64(incompatibleFeatures, at: 72)
            bytes.setBigEndian64(compatibleFeatures, at: 80)
            bytes.setBigEndian64(autoclearFeatures, at: 88)
            bytes.setBigEndian32(UInt32(refcountOrder), at: 96)
            let length = max(headerLength, 112)
            bytes.setBigEndian32(UInt32(length), at: 100)
            position = length
        }
        if let backingFormat, backingFile != nil {
            let name = Array(backingFormat.utf8)
            guard position + 8 + (name.count + 7) / 8 * 8 + 8 <= clusterSize else {
                throw .invalidArgument("backing format name too long for the header cluster")
            }
            bytes.setBigEndian32(Self.backingFormatExtension, at: position)
            bytes.setBigEndian32(UInt32(name.count), at: position + 4)
            for (index, byte) in name.enumerated() { bytes[position + 8 + index] = byte }
            position += 8 + (name.count + 7) / 8 * 8
        }
        position += 8  // end-of-extensions marker (type 0, length 0)
        if let backingFile {
            let name = Array(backingFile.utf8)
            guard name.count <= 1023, position + name.count <= clusterSize else {
                throw .invalidArgument("backing file name too long (\(name.count) bytes)")
            }
            bytes.setBigEndian64(UInt64(position), at: 8)
            bytes.setBigEndian32(UInt32(name.count), at: 16)
            for (index, byte) in name.enumerated() { bytes[position + index] = byte }
        }
        return bytes
    }
}
