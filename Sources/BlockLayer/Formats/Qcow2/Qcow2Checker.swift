/// What ``Qcow2Checker`` found, in `qemu-img check`'s terms.
public struct Qcow2CheckReport: Sendable, Equatable {
    /// References to clusters that are counted too low, entries pointing outside the file or
    /// unaligned, overlapping metadata, wrong COPIED flags: data is at risk.
    public var corruptions = 0
    /// Clusters counted higher than they are referenced: wasted space, no harm to data.
    public var leaks = 0
    /// Leaks repaired by this run.
    public var leaksFixed = 0
    /// Refcounts that were too low, repaired by this run.
    public var corruptionsFixed = 0
    /// One line per finding (`ERROR …`, `Leaked cluster …`, `Repairing …`).
    public var messages: [String] = []
    /// Guest clusters that are allocated (data, compressed or preallocated zero), and in all.
    public var allocatedGuestClusters: UInt64 = 0
    /// Guest clusters of the virtual disk.
    public var totalGuestClusters: UInt64 = 0
    /// The end of the last used host cluster.
    public var imageEndOffset: UInt64 = 0

    /// `qemu-img check`'s exit status: 0 clean, 2 corruptions, 3 leaks only.
    public var exitCode: Int32 { corruptions - corruptionsFixed > 0 ? 2 : leaks - leaksFixed > 0 ? 3 : 0 }
}

/// Consistency check of a qcow2 image, like `qemu-img check`: rebuilds every cluster's
/// reference count from the header, L1/L2 tables and refcount structures, compares it with the
/// stored refcounts, and optionally repairs leaks (lowers refcounts that are too high).
///
/// Guarantees: it never follows a pointer outside the file (those are reported as corruptions)
/// and allocates memory proportional to the file's size in clusters (refusing files of more
/// than 2^28 clusters). Images with internal snapshots are refused (`unsupported`).
public enum Qcow2Checker {
    /// Checks the image at `path`. With `repairLeaks` (opens it writable) fixes leaked clusters;
    /// with `repairRefcounts` also raises refcounts that are too low (what a crash with lazy
    /// refcounts leaves; qemu-img's `-r all`), placing any new refcount block only in a cluster
    /// nothing references, and clears the dirty bit once no corruption is left. Other
    /// corruptions (entries out of bounds or unaligned, overlaps) are reported, not repaired.
    /// Throws for a header that cannot be read or validated and for file errors.
    public static func check(path: String, repairLeaks: Bool = false, repairRefcounts: Bool = false) async throws(BlockError) -> Qcow2CheckReport {
        let writable = repairLeaks || repairRefcounts
        let file = try await BlockNode(name: path, driver: try FileDriver(path: path, readOnly: !writable))
        let image = try await Qcow2Image.load(file: file, readOnly: !writable, cacheBytes: 0)
        return try await check(image, repairLeaks: writable, repairRefcounts: repairRefcounts)
    }

    static func check(_ image: Qcow2Image, repairLeaks: Bool, repairRefcounts: Bool = false) async throws(BlockError) -> Qcow2CheckReport {
        let header = image.header
        let geometry = image.geometry
        let clusterSize = UInt64(geometry.clusterSize)
        guard header.snapshotCount == 0 else { throw .unsupported("checking images with internal snapshots") }
        let fileLength = image.file.length
        let fileClusters = geometry.clusterCount(bytes: fileLength)
        guard fileClusters <= 1 << 28 else { throw .unsupported("checking a file of \(fileClusters) clusters") }
        var report = Qcow2CheckReport()
        var references = [UInt16](repeating: 0, count: Int(fileClusters))
        var isMetadata = [Bool](repeating: false, count: Int(fileClusters))

        func mark(_ offset: UInt64, _ length: UInt64, _ what: String, metadata: Bool) {
            guard length > 0 else { return }
            let first = offset / clusterSize
            let last = (offset + length - 1) / clusterSize
            for cluster in first...last {
                guard cluster < fileClusters else {
                    report.corruptions += 1
                    report.messages.append("ERROR \(what) at offset \(offset) lies past the end of the image file")
                    return
                }
                let index = Int(cluster)
                if references[index] > 0 && (metadata || isMetadata[index]) {
                    report.corruptions += 1
                    report.messages.append("ERROR \(what) at cluster \(cluster) overlaps other metadata or data")
                }
                references[index] = references[index] == UInt16.max ? UInt16.max : references[index] + 1
                if metadata { isMetadata[index] = true }
            }
        }

        // COPIED flags are compared with the refcounts at the end (after any repair).
        var copiedFlags: [(cluster: UInt64, copied: Bool, what: String)] = []
        mark(0, clusterSize, "header", metadata: true)
        mark(header.l1TableOffset, UInt64(header.l1Size) * 8, "L1 table", metadata: true)
        mark(header.refcountTableOffset, UInt64(header.refcountTableClusters) * clusterSize, "refcount table", metadata: true)
        var usableBlocks = Set<Int>()
        for (index, offset) in image.refcountTable.enumerated() where offset != 0 {
            if offset & geometry.clusterMask != 0 {
                report.corruptions += 1
                report.messages.append("ERROR refcount block \(index) offset \(offset) is not cluster aligned")
            } else if offset + clusterSize > fileLength {
                report.corruptions += 1
                report.messages.append("ERROR refcount block \(index) at \(offset) lies past the end of the image file")
            } else {
                usableBlocks.insert(index)
                mark(offset, clusterSize, "refcount block \(index)", metadata: true)
            }
        }

        func storedRefcount(_ cluster: UInt64) async throws(BlockError) -> UInt64 {
            let block = Int(cluster / UInt64(geometry.refcountsPerBlock))
            guard usableBlocks.contains(block) else { return 0 }
            return try await image.refcount(cluster: cluster)
        }

        for (l1Index, l1Entry) in image.l1.enumerated() {
            let l2Offset = l1Entry & Qcow2Cluster.offsetMask
            if l2Offset == 0 { continue }
            if l2Offset & geometry.clusterMask != 0 {
                report.corruptions += 1
                report.messages.append("ERROR L2 table offset \(l2Offset) (L1 entry \(l1Index)) is not cluster aligned")
                continue
            }
            if l2Offset + clusterSize > fileLength {
                report.corruptions += 1
                report.messages.append("ERROR L2 table at \(l2Offset) (L1 entry \(l1Index)) lies past the end of the image file")
                continue
            }
            mark(l2Offset, clusterSize, "L2 table", metadata: true)
            copiedFlags.append((l2Offset / clusterSize, l1Entry & Qcow2Cluster.copiedFlag != 0,
                                "OFLAG_COPIED L2 cluster: l1_index=\(l1Index) l1_entry=\(String(l1Entry, radix: 16))"))
            let table = try await image.readBytes(at: l2Offset, count: geometry.clusterSize)
            for l2Index in 0..<geometry.l2Entries {
                let entry = table.bigEndian64(at: l2Index * 8)
                if entry == 0 { continue }
                let guest = UInt64(l1Index) * geometry.bytesPerL2 + UInt64(l2Index) * clusterSize
                let cluster: Qcow2Cluster
                do throws(BlockError) {
                    cluster = try Qcow2Cluster.decode(entry, geometry: geometry, version: header.version)
                } catch {
                    report.corruptions += 1
                    report.messages.append("ERROR offset=\(guest): \(error)")
                    continue
                }
                switch cluster {
                case .unallocated, .zero(host: nil): break
                case .zero(host: let host?):
                    report.allocatedGuestClusters += 1
                    mark(host, clusterSize, "zero cluster (guest offset \(guest))", metadata: false)
                case .normal(let host, let copied):
                    report.allocatedGuestClusters += 1
                    mark(host, clusterSize, "data cluster (guest offset \(guest))", metadata: false)
                    if host < fileLength {
                        copiedFlags.append((host / clusterSize, copied, "OFLAG_COPIED data cluster: l2_entry=\(String(entry, radix: 16))"))
                    }
                case .compressed(let host, let length):
                    report.allocatedGuestClusters += 1
                    if entry & Qcow2Cluster.copiedFlag != 0 {
                        report.corruptions += 1
                        report.messages.append("ERROR compressed cluster (guest offset \(guest)) has OFLAG_COPIED set")
                    }
                    let end = min(host + UInt64(length), max(fileLength, host + 1))
                    mark(host, end - host, "compressed cluster (guest offset \(guest))", metadata: false)
                }
            }
        }
        report.totalGuestClusters = geometry.clusterCount(bytes: header.size)

        // Compare with the stored refcounts (clusters past the file's end count as unreferenced).
        var leaked: [(UInt64, UInt64)] = []
        var tooLow: [(UInt64, UInt64)] = []
        let coveredClusters = UInt64(usableBlocks.max().map { $0 + 1 } ?? 0) * UInt64(geometry.refcountsPerBlock)
        for cluster in 0..<max(fileClusters, coveredClusters) {
            let stored = try await storedRefcount(cluster)
            let counted = cluster < fileClusters ? UInt64(references[Int(cluster)]) : 0
            if counted > 0 { report.imageEndOffset = (cluster + 1) * clusterSize }
            if stored == counted { continue }
            if stored < counted {
                report.corruptions += 1
                tooLow.append((cluster, counted))
                report.messages.append("\(repairRefcounts ? "Repairing" : "ERROR") cluster \(cluster) refcount=\(stored) reference=\(counted)")
            } else {
                report.leaks += 1
                leaked.append((cluster, counted))
                report.messages.append("\(repairLeaks ? "Repairing" : "Leaked") cluster \(cluster) refcount=\(stored) reference=\(counted)")
            }
        }
        if repairLeaks && !leaked.isEmpty {
            for (cluster, counted) in leaked { try await image.setRefcount(cluster: cluster, to: counted) }
            try await image.writeRefcountBlocks()
            try await image.file.flush()
            report.leaksFixed = leaked.count
        }
        if repairRefcounts && !tooLow.isEmpty {
            // New refcount blocks must not land on a referenced cluster whose stored count is 0.
            var runs: [Range<UInt64>] = []
            for (index, count) in references.enumerated() where count > 0 {
                let cluster = UInt64(index)
                if let last = runs.last, last.upperBound == cluster { runs[runs.count - 1] = last.lowerBound..<(cluster + 1) } else {
                    runs.append(cluster..<(cluster + 1))
                }
            }
            image.reserved.append(contentsOf: runs)
            defer { image.reserved.removeAll() }
            for (cluster, counted) in tooLow {
                guard counted <= geometry.maximumRefcount else { continue }
                try await image.setRefcount(cluster: cluster, to: counted)
            }
            try await image.writeRefcountBlocks()
            try await image.file.flush()
            report.corruptionsFixed = tooLow.count
        }
        for flag in copiedFlags {
            let stored: UInt64
            do throws(BlockError) { stored = try await image.refcount(cluster: flag.cluster) } catch { stored = 0 }
            if (stored == 1) != flag.copied {
                report.corruptions += 1
                report.messages.append("ERROR \(flag.what)")
            }
        }
        if repairRefcounts && image.header.isDirty && report.corruptions == report.corruptionsFixed {
            image.header.incompatibleFeatures &= ~Qcow2Header.dirtyBit
            try await image.writeFeatures()
            try await image.file.flush()
        }
        return report
    }
}
