// libFuzzer harness for qcow2 header and table-entry parsing (BlockLayer/Formats/Qcow2).
//
// Compiled together with Qcow2Header.swift, Qcow2Geometry.swift, BigEndianBytes.swift and
// BlockError.swift by scripts/fuzz-qcow2 (one module, so internal API is reachable). Per input:
// 1. `Qcow2Header.parse` on the bytes, with the file as long as the input and as a 1 TiB file:
//    it either throws a BlockError or returns a header that keeps every guarantee the type
//    documents (checked here one by one; a violation traps, and libFuzzer saves the input);
// 2. a parsed version 3 header that we can serialise parses back to the same fields;
// 3. every 8-byte word of the input, decoded as an L2 entry for every cluster size, is
//    unallocated, zero, an aligned data cluster, or a compressed cluster whose length fits the
//    descriptor and whose host clusters are few and ascending.

@_cdecl("LLVMFuzzerTestOneInput")
public func qcow2HeaderFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    for fileLength in [UInt64(size), UInt64(1) << 40] {
        if let header = try? Qcow2Header.parse(bytes, fileLength: fileLength) {
            checkGuarantees(header, fileLength: fileLength)
            if header.version == 3, let again = try? header.serialized() {
                guard let reparsed = try? Qcow2Header.parse(again, fileLength: fileLength) else {
                    fatalError("a serialised header does not parse back")
                }
                precondition(reparsed.size == header.size && reparsed.l1Size == header.l1Size
                             && reparsed.l1TableOffset == header.l1TableOffset
                             && reparsed.refcountTableOffset == header.refcountTableOffset
                             && reparsed.refcountTableClusters == header.refcountTableClusters
                             && reparsed.clusterBits == header.clusterBits
                             && reparsed.refcountOrder == header.refcountOrder
                             && reparsed.incompatibleFeatures == header.incompatibleFeatures
                             && reparsed.backingFile == header.backingFile,
                             "serialise/parse round trip changed a field")
            }
        }
    }
    var word = 0
    while word + 8 <= bytes.count {
        let entry = bytes.bigEndian64(at: word)
        for clusterBits in 9...21 {
            checkEntry(entry, geometry: Qcow2Geometry(clusterBits: clusterBits, refcountOrder: 4))
        }
        word += 8
    }
    return 0
}

private func checkGuarantees(_ header: Qcow2Header, fileLength: UInt64) {
    precondition(header.version == 2 || header.version == 3)
    precondition((9...21).contains(header.clusterBits))
    precondition((0...6).contains(header.refcountOrder))
    precondition(Int(header.l1Size) * 8 <= Qcow2Header.maximumL1Bytes)
    if let needed = Qcow2Header.l1EntriesNeeded(size: header.size, clusterBits: header.clusterBits) {
        precondition(UInt64(header.l1Size) >= needed)
    } else {
        fatalError("accepted a size whose L1 need overflows")
    }
    let mask = UInt64(header.clusterSize - 1)
    if header.l1Size > 0 {
        precondition(header.l1TableOffset & mask == 0 && header.l1TableOffset + UInt64(header.l1Size) * 8 <= fileLength)
    }
    precondition(header.refcountTableOffset & mask == 0 && header.refcountTableOffset != 0)
    let tableBytes = UInt64(header.refcountTableClusters) << UInt64(header.clusterBits)
    precondition(tableBytes > 0 && tableBytes <= UInt64(Qcow2Header.maximumRefcountTableBytes))
    precondition(header.refcountTableOffset + tableBytes <= fileLength)
    precondition(header.headerLength <= header.clusterSize)
    precondition((header.backingFile?.utf8.count ?? 0) <= 1023 * 3)  // bytes decoded, repairs may widen
    precondition(header.incompatibleFeatures & ~(Qcow2Header.dirtyBit | Qcow2Header.corruptBit) == 0)
}

private func checkEntry(_ entry: UInt64, geometry: Qcow2Geometry) {
    guard let cluster = try? Qcow2Cluster.decode(entry, geometry: geometry, version: 3) else { return }
    switch cluster {
    case .unallocated: precondition(entry & Qcow2Cluster.offsetMask == 0)
    case .zero(let host): precondition(host.map { $0 & geometry.clusterMask == 0 && $0 != 0 } ?? true)
    case .normal(let host, _): precondition(host != 0 && host & geometry.clusterMask == 0)
    case .compressed(let host, let length):
        precondition(length >= 1 && length <= (1 << (geometry.clusterBits - 8)) * 512)
        let clusters = cluster.referencedHostClusters(geometry: geometry)
        precondition(!clusters.isEmpty && clusters.count <= (1 << (geometry.clusterBits - 8)) * 512 / geometry.clusterSize + 2)
        precondition(clusters == clusters.sorted() && clusters[0] <= host)
    }
}
