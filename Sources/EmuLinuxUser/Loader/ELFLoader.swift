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

/// Maps the PT_LOAD segments of an executable (ET_EXEC at its addresses, ET_DYN — a PIE or
/// the dynamic loader — at a base we choose).
public enum ELFLoader {
    /// Base chosen for position-independent executables.
    public static let pieBase: UInt64 = 0x5_5555_4000 // inside the 64 GiB window, clear of brk and mmap

    /// The page-aligned range `[low, high)` the PT_LOAD segments of `image` cover at bias 0.
    /// - Throws: `LoaderError.malformed` when there is no PT_LOAD (already refused by `ELFImage`).
    public static func span(of image: ELFImage) throws(LoaderError) -> (low: UInt64, high: UInt64) {
        let page = GuestAddressSpace.pageSize
        let loads = image.programHeaders.filter { $0.type == ProgramHeader.load }
        guard let low = loads.map({ $0.virtualAddress }).min(),
              let high = loads.map({ $0.virtualAddress + $0.memorySize }).max() else { throw .malformed("no loadable segment") }
        // ELFImage guarantees virtualAddress + memorySize + page does not wrap.
        return (low & ~(page - 1), (high + page - 1) & ~(page - 1))
    }

    /// The base for an ET_DYN interpreter, chosen as Linux does: the highest free range below
    /// `ceiling` that holds its whole span (where an mmap without a hint would go). nil for an
    /// ET_EXEC interpreter, which is loaded at its own addresses.
    /// - Throws: `LoaderError.noRoom` when no free range is large enough.
    public static func interpreterBase(for image: ELFImage, in memory: GuestAddressSpace,
                                       below ceiling: UInt64) throws(LoaderError) -> UInt64? {
        guard image.isPositionIndependent else { return nil }
        let (low, high) = try span(of: image)
        guard let base = freeRange(in: memory, length: high - low, ceiling: min(ceiling, memory.size)) else {
            throw .noRoom("interpreter span of \(high - low) bytes")
        }
        return base
    }

    /// A free page-aligned range of `length` bytes in `floor ..< ceiling`, searched top-down.
    public static func freeRange(in memory: GuestAddressSpace, length: UInt64, ceiling: UInt64,
                                 floor: UInt64 = 0x1_0000) -> UInt64? {
        let page = GuestAddressSpace.pageSize
        guard length > 0, ceiling > floor, length <= ceiling - floor else { return nil }
        var candidate = (ceiling - length) & ~(page - 1)
        while candidate >= floor {
            guard let mapped = memory.highestMappedPage(candidate, length: length) else { return candidate }
            let below = mapped * page
            guard below >= length + floor else { return nil }
            candidate = below - length
        }
        return nil
    }

    /// Loads `image` into `memory`: an ET_DYN image with its lowest segment at `base`
    /// (`pieBase` when nil), an ET_EXEC image at its own addresses (`base` is ignored).
    /// - Throws: `LoaderError.noRoom` when a segment falls outside the window, overflows, or
    ///   the image's span is not entirely free (it would overlap something loaded before).
    public static func load(_ image: ELFImage, into memory: GuestAddressSpace,
                            base: UInt64? = nil) throws(LoaderError) -> LoadedProgram {
        let page = GuestAddressSpace.pageSize
        let loads = image.programHeaders.filter { $0.type == ProgramHeader.load }
        let (low, high) = try span(of: image)
        let bias: UInt64 = image.isPositionIndependent ? (base ?? pieBase) &- low : 0
        let (spanStart, o0) = low.addingReportingOverflow(bias)
        guard !o0, spanStart < memory.size, high - low <= memory.size - spanStart else {
            throw .noRoom("image span \(String(low, radix: 16))-\(String(high, radix: 16)) at bias \(String(bias, radix: 16))")
        }
        guard memory.isFree(spanStart, length: high - low) else {
            throw .noRoom("image span at \(String(spanStart, radix: 16)) overlaps an existing mapping")
        }
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
