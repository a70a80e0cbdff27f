import EmuTCG

/// Where a program landed in the guest address space.
public struct LoadedProgram: Sendable, Equatable {
    /// The entry point (relocated for position-independent images).
    public var entry: UInt64
    /// Guest address of the program headers (AT_PHDR).
    public var programHeaders: UInt64
    public var programHeaderCount: Int
    /// The load bias added to every virtual address (0 for ET_EXEC).
    public var bias: UInt64
    /// First byte after the highest segment: where the heap (brk) starts.
    public var end: UInt64
}

/// Maps the PT_LOAD segments of a static (ET_EXEC) or static-PIE (ET_DYN) executable.
public enum ELFLoader {
    /// Base chosen for position-independent executables.
    public static let pieBase: UInt64 = 0x5_5555_4000 // inside the 64 GiB window, clear of brk and mmap

    /// Loads `image` into `memory`.
    /// - Throws: `LoaderError.noRoom` when a segment falls outside the window or overflows.
    public static func load(_ image: ELFImage, into memory: GuestAddressSpace) throws(LoaderError) -> LoadedProgram {
        let page = GuestAddressSpace.pageSize
        let loads = image.programHeaders.filter { $0.type == ProgramHeader.load }
        let lowest = loads.map { $0.virtualAddress }.min() ?? 0
        let bias: UInt64 = image.isPositionIndependent ? pieBase &- (lowest & ~(page - 1)) : 0
        var end: UInt64 = 0
        for h in loads {
            let (start, o1) = h.virtualAddress.addingReportingOverflow(bias)
            let (segmentEnd, o2) = start.addingReportingOverflow(h.memorySize)
            guard !o1, !o2, segmentEnd <= memory.size else {
                throw .noRoom("segment at \(String(h.virtualAddress, radix: 16)) of \(h.memorySize) bytes")
            }
            let mapStart = start & ~(page - 1)
            let mapEnd = (segmentEnd + page - 1) & ~(page - 1)
            guard mapEnd > mapStart else { continue }
            // Segments may share a page: keep what an earlier segment put there. Usually the
            // whole range is free and takes one mapping; otherwise map the free runs.
            var p = mapStart
            while p < mapEnd {
                if let mapped = memory.highestMappedPage(p, length: mapEnd - p) {
                    let used = mapped * page
                    if used + page < mapEnd {
                        do { try memory.map(used + page, length: mapEnd - used - page, [.read, .write]) } catch {
                            throw .noRoom("segment at \(String(start, radix: 16))")
                        }
                    }
                    // Below the highest mapped page: only pages no earlier segment covers.
                    if used > p && memory.isFree(p, length: used - p) {
                        do { try memory.map(p, length: used - p, [.read, .write]) } catch { throw .noRoom("segment") }
                    } else if used > p {
                        var q = p
                        while q < used {
                            if memory.isFree(q, length: page) {
                                do { try memory.map(q, length: page, [.read, .write]) } catch { throw .noRoom("segment") }
                            }
                            q += page
                        }
                    }
                } else {
                    do { try memory.map(p, length: mapEnd - p, [.read, .write]) } catch {
                        throw .noRoom("segment at \(String(start, radix: 16))")
                    }
                }
                p = mapEnd
            }
            if h.fileSize > 0 {
                let bytes = image.bytes[Int(h.offset)..<Int(h.offset + h.fileSize)]
                guard memory.poke(start, bytes) else { throw .noRoom("segment copy") }
            }
            end = max(end, segmentEnd)
        }
        // Protections after all copies (segments may share a boundary page: the union applies).
        var ranges: [(UInt64, UInt64, PagePermissions)] = []
        for h in loads {
            let start = h.virtualAddress &+ bias
            var perms: PagePermissions = []
            if h.flags & 4 != 0 { perms.insert(.read) }
            if h.flags & 2 != 0 { perms.insert(.write) }
            if h.flags & 1 != 0 { perms.insert(.execute) }
            let first = start & ~(page - 1)
            let last = (start &+ h.memorySize &+ page &- 1) & ~(page - 1)
            guard last > first else { continue }
            ranges.append((first, last, perms))
        }
        for (k, r) in ranges.enumerated() {
            // Interior pages get the segment's own permissions; shared boundary pages the union.
            do {
                try memory.protect(r.0, length: r.1 - r.0, r.2)
                for (j, other) in ranges.enumerated() where j != k && other.0 < r.1 && r.0 < other.1 {
                    let lo = max(r.0, other.0), hi = min(r.1, other.1)
                    try memory.protect(lo, length: hi - lo, r.2.union(other.2))
                }
            } catch { throw .noRoom("protect \(String(r.0, radix: 16))") }
        }
        let phdr: UInt64
        if let h = image.programHeaders.first(where: { $0.type == ProgramHeader.phdr }) {
            phdr = h.virtualAddress &+ bias
        } else if let h = loads.first(where: { $0.offset <= image.programHeaderOffset &&
                                                image.programHeaderOffset < $0.offset + $0.fileSize }) {
            phdr = h.virtualAddress &+ (image.programHeaderOffset - h.offset) &+ bias
        } else {
            phdr = 0
        }
        return LoadedProgram(entry: image.entry &+ bias, programHeaders: phdr,
                             programHeaderCount: image.programHeaders.count, bias: bias, end: end)
    }
}
