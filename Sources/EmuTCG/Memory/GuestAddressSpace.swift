#if canImport(Glibc)
import Glibc
#endif
import CEmuSystem
import Atomics
import Synchronization

/// Page permission bits of a guest page.
public struct PagePermissions: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    /// Wraps raw bits (1 read, 2 write, 4 execute).
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let read = PagePermissions(rawValue: 1)
    public static let write = PagePermissions(rawValue: 2)
    public static let execute = PagePermissions(rawValue: 4)
    /// Internal: a translation block was made from this page.
    static let translated = PagePermissions(rawValue: 8)
    /// Internal: the page is mapped (possibly with no access, like a guard page).
    static let mapped = PagePermissions(rawValue: 16)
    /// Internal: the host mapping is not writable (a shared file mapping without write access).
    static let hostReadOnly = PagePermissions(rawValue: 32)
    /// The bits a caller sets; the rest are the address space's own.
    static let guestBits: PagePermissions = [.read, .write, .execute]
}

/// Errors of `GuestAddressSpace` operations.
public enum GuestAddressSpaceError: Error, Sendable, Equatable {
    /// The host refused to reserve the window.
    case reservationFailed(errno: Int32)
    /// The range is empty, unaligned, or outside the window.
    case badRange(address: UInt64, length: UInt64)
}

/// A user-mode guest address space: guest address `a` lives at host address `base + a` inside one
/// reserved host window, with a software page table (one permission byte per 4 KiB page).
///
/// Why a window and not a soft MMU: in user mode the guest's addresses are chosen by us (the
/// loader and our `mmap`), so an offset into a reserved range gives every access one bounds check,
/// one page-table byte and a plain host load, and a host-code back end can inline exactly that.
/// The window is mapped read/write with `MAP_NORESERVE` (untouched pages cost nothing); the guest's
/// protections are enforced by the page table, so a guest access to an unmapped or protected page
/// raises a guest page fault with the exact PC, never a host signal. A system-mode soft MMU (page
/// walks, TLB) will sit behind the same load/store entry points.
///
/// Threads: the guest's threads share one address space, so guest loads and stores are plain
/// host accesses to the same bytes (x86's ordering is the host's). Host pages of private and
/// anonymous mappings are always readable and writable, and `unmap` leaves fresh zero pages
/// behind, so a thread whose check passed just before another thread changed the mapping never
/// takes a host fault (only shared file mappings follow the guest's protection on the host).
/// Callers serialise mapping changes (`map`, `mapFile`, `protect`, `unmap`) among themselves;
/// the per-page "translated" bit, which translation sets and any store clears, is changed with
/// atomic byte operations, and code changes reach every registered executor's mailbox.
///
/// `@unchecked Sendable`: `base`, `size` and the table pointer never change; page-table bytes
/// are written by serialised mapping changes or atomically (the translated bit); guest data
/// races are the guest's own, as on hardware; the observer list is behind a `Mutex`.
public final class GuestAddressSpace: @unchecked Sendable {
    /// 4 KiB.
    public static let pageSize: UInt64 = 4096
    /// Guest addresses are `0 ..< size`.
    public let size: UInt64
    /// Host address of guest address 0.
    public let base: UnsafeMutableRawPointer
    let pageTable: UnsafeMutablePointer<UInt8>
    let pageCount: UInt64
    /// Mailboxes of the executors running on this address space; told of every page whose
    /// translated code is written or remapped.
    let codeObservers = Mutex<[ExecutorMailbox]>([])

    /// Reserves a window of `size` bytes (a multiple of the page size), all of it unmapped.
    /// - Throws: `GuestAddressSpaceError.reservationFailed` when the host has no room.
    public init(size: UInt64 = 1 << 36) throws {
        self.size = size & ~(Self.pageSize - 1)
        pageCount = self.size / Self.pageSize
        let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE
        guard let window = mmap(nil, Int(self.size), PROT_NONE, flags, -1, 0), window != MAP_FAILED else {
            throw GuestAddressSpaceError.reservationFailed(errno: errno)
        }
        guard let table = mmap(nil, Int(pageCount), PROT_READ | PROT_WRITE, flags, -1, 0), table != MAP_FAILED else {
            munmap(window, Int(self.size))
            throw GuestAddressSpaceError.reservationFailed(errno: errno)
        }
        base = window
        pageTable = table.assumingMemoryBound(to: UInt8.self)
    }

    deinit {
        munmap(base, Int(size))
        munmap(pageTable, Int(pageCount))
    }

    func checkRange(_ address: UInt64, _ length: UInt64) throws(GuestAddressSpaceError) {
        guard length > 0, address % Self.pageSize == 0, address < size, length <= size - address else {
            throw .badRange(address: address, length: length)
        }
    }

    static func roundUp(_ length: UInt64) -> UInt64 {
        length > UInt64.max - pageSize ? UInt64.max & ~(pageSize - 1) : (length + pageSize - 1) & ~(pageSize - 1)
    }

    /// Host protection for guest permissions: readable whenever the guest may touch the page
    /// at all, writable when the guest may write (guest accesses are checked by the page table
    /// first; the host protection only backs it up).
    static func hostProtection(_ p: PagePermissions) -> Int32 {
        if p.intersection([.read, .write, .execute]).isEmpty { return PROT_NONE }
        return p.contains(.write) ? PROT_READ | PROT_WRITE : PROT_READ
    }

    /// Registers an executor's mailbox for code-change notices.
    func addCodeObserver(_ mailbox: ExecutorMailbox) {
        codeObservers.withLock { $0.append(mailbox) }
    }

    /// Removes a mailbox registered with `addCodeObserver`.
    func removeCodeObserver(_ mailbox: ExecutorMailbox) {
        codeObservers.withLock { list in list.removeAll { $0 === mailbox } }
    }

    /// Tells every executor that `page` no longer holds the code it translated.
    func codeModified(_ page: UInt64) {
        codeObservers.withLock { list in for m in list { m.post(invalidatedPage: page) } }
    }

    @inline(__always)
    func tableEntry(_ page: Int) -> UnsafeAtomic<UInt8> {
        UnsafeAtomic<UInt8>(at: UnsafeMutableRawPointer(pageTable + page).assumingMemoryBound(to: UInt8.AtomicRepresentation.self))
    }

    func setTable(_ address: UInt64, _ length: UInt64, _ permissions: PagePermissions, mapped: Bool = true,
                  hostReadOnly: Bool = false) {
        let first = address / Self.pageSize
        var value = permissions.intersection(PagePermissions.guestBits).rawValue
        if mapped { value |= PagePermissions.mapped.rawValue }
        if hostReadOnly { value |= PagePermissions.hostReadOnly.rawValue }
        for page in first..<first + length / Self.pageSize {
            let old = PagePermissions(rawValue: tableEntry(Int(page)).exchange(value, ordering: .relaxed))
            if old.contains(.translated) { codeModified(page) }
        }
    }

    /// Changes the permissions of mapped pages `address ..< address + length`; the bytes keep
    /// their contents. Pages holding translated code have their blocks dropped. The host pages
    /// stay writable (see the type's note on threads) except under a shared read-only mapping.
    public func protect(_ address: UInt64, length: UInt64, _ permissions: PagePermissions) throws(GuestAddressSpaceError) {
        let length = Self.roundUp(length)
        try checkRange(address, length)
        guard isMapped(address, length: length) else { throw .badRange(address: address, length: length) }
        var hostReadOnly = false
        if mprotect(base + Int(address), Int(length), PROT_READ | PROT_WRITE) != 0 {
            // A shared mapping of a file opened read-only: the host must follow the guest.
            guard !permissions.contains(.write),
                  mprotect(base + Int(address), Int(length), Self.hostProtection(permissions)) == 0 else {
                throw .badRange(address: address, length: length)
            }
            hostReadOnly = true
        }
        setTable(address, length, permissions, hostReadOnly: hostReadOnly)
    }

    /// Maps fresh zeroed pages at `address ..< address + length` with `permissions`, replacing
    /// whatever was there.
    public func map(_ address: UInt64, length: UInt64, _ permissions: PagePermissions) throws(GuestAddressSpaceError) {
        let length = Self.roundUp(length)
        try checkRange(address, length)
        let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED
        guard let p = mmap(base + Int(address), Int(length), PROT_READ | PROT_WRITE, flags, -1, 0),
              p != MAP_FAILED else {
            throw .badRange(address: address, length: length)
        }
        setTable(address, length, permissions)
    }

    /// Maps `length` bytes of host file `fd` from `offset` at `address`: private (copy on
    /// write) or shared with the file. Returns the host errno on failure (0 on success).
    public func mapFile(_ address: UInt64, length: UInt64, _ permissions: PagePermissions, fd: Int32,
                        offset: Int64, shared: Bool) -> Int32 {
        let length = Self.roundUp(length)
        guard (try? checkRange(address, length)) != nil else { return EINVAL }
        let flags = (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_FIXED
        var prot = PROT_READ | PROT_WRITE
        var p = mmap(base + Int(address), Int(length), prot, flags, fd, off_t(offset))
        if shared && (p == nil || p == MAP_FAILED) && errno == EACCES && !permissions.contains(.write) {
            // A file opened read-only can only be shared read-only.
            prot = Self.hostProtection(permissions)
            p = mmap(base + Int(address), Int(length), prot, flags, fd, off_t(offset))
        }
        guard let p, p != MAP_FAILED else {
            let e = errno
            _ = try? unmap(address, length: length)
            return e
        }
        setTable(address, length, permissions, hostReadOnly: prot & PROT_WRITE == 0)
        return 0
    }

    /// Unmaps `address ..< address + length`: inaccessible to the guest, contents dropped (the
    /// host keeps fresh zero pages there, so a racing thread never faults on the host).
    public func unmap(_ address: UInt64, length: UInt64) throws(GuestAddressSpaceError) {
        let length = Self.roundUp(length)
        try checkRange(address, length)
        let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED
        guard let p = mmap(base + Int(address), Int(length), PROT_READ | PROT_WRITE, flags, -1, 0), p != MAP_FAILED else {
            throw .badRange(address: address, length: length)
        }
        setTable(address, length, [], mapped: false)
    }

    /// Moves the pages at `address ..< address + length` to `target ..< target + length` with
    /// their contents, host backing (a shared file mapping stays one) and permissions, replacing
    /// whatever was at `target`; the old range becomes unmapped. Blocks translated from either
    /// range are dropped. The host moves the pages (`mremap` with `MREMAP_DONTUNMAP`, so the
    /// window never has a hole; where the kernel refuses that, a plain move whose old range is
    /// reserved again at once).
    /// - Throws: `badRange` for unaligned, overlapping or out-of-window ranges, an old range not
    ///   entirely mapped, or a host refusal (for example a range spanning host mappings of
    ///   different kinds); nothing has changed then.
    public func move(_ address: UInt64, length: UInt64, to target: UInt64) throws(GuestAddressSpaceError) {
        try checkRange(address, length)
        try checkRange(target, length)
        guard length % Self.pageSize == 0, target >= address + length || address >= target + length,
              isMapped(address, length: length) else {
            throw .badRange(address: address, length: length)
        }
        let first = Int(address / Self.pageSize), count = Int(length / Self.pageSize)
        let moved = (0..<count).map { pageTable[first + $0] & ~PagePermissions.translated.rawValue }
        let from = Int(bitPattern: base + Int(address)), to = Int(bitPattern: base + Int(target))
        let mremapNumber = 25, mayMove = 1, fixed = 2, dontUnmap = 4
        var result = emu_raw_syscall(mremapNumber, from, Int(length), Int(length), mayMove | fixed | dontUnmap, to, 0)
        if result < 0 && result > -4096 {
            result = emu_raw_syscall(mremapNumber, from, Int(length), Int(length), mayMove | fixed, to, 0)
            guard result >= 0 || result <= -4096 else { throw .badRange(address: address, length: length) }
        }
        // Reserve the old range again (replacing what MREMAP_DONTUNMAP left, or the hole), as
        // fresh zero pages like `unmap` leaves.
        let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED
        _ = mmap(base + Int(address), Int(length), PROT_READ | PROT_WRITE, flags, -1, 0)
        setTable(address, length, [], mapped: false)
        let firstTarget = Int(target / Self.pageSize)
        for k in 0..<count {
            let old = PagePermissions(rawValue: tableEntry(firstTarget + k).exchange(moved[k], ordering: .relaxed))
            if old.contains(.translated) { codeModified(UInt64(firstTarget + k)) }
        }
    }

    /// The highest mapped page number in `address ..< address + length`, or nil when none is.
    public func highestMappedPage(_ address: UInt64, length: UInt64) -> UInt64? {
        guard length > 0, address < size else { return nil }
        let end = min(size, address &+ length < address ? size : address + length)
        var page = (end - 1) / Self.pageSize
        let first = address / Self.pageSize
        while true {
            if pageTable[Int(page)] & PagePermissions.mapped.rawValue != 0 { return page }
            if page == first { return nil }
            page -= 1
        }
    }

    /// Whether no page of `address ..< address + length` is mapped (false outside the window).
    public func isFree(_ address: UInt64, length: UInt64) -> Bool {
        guard length > 0, address < size, length <= size - address else { return false }
        var page = address / Self.pageSize
        let last = (address + length - 1) / Self.pageSize
        while page <= last {
            if pageTable[Int(page)] & PagePermissions.mapped.rawValue != 0 { return false }
            page += 1
        }
        return true
    }

    /// Permissions of the page holding `address` (empty outside the window).
    public func permissions(at address: UInt64) -> PagePermissions {
        guard address < size else { return [] }
        return PagePermissions(rawValue: pageTable[Int(address / Self.pageSize)]).intersection(PagePermissions.guestBits)
    }

    /// Whether every page of `address ..< address + length` is mapped (any permission).
    public func isMapped(_ address: UInt64, length: UInt64) -> Bool {
        guard length > 0 else { return true }
        guard address < size, length <= size - address else { return false }
        var page = address / Self.pageSize
        let last = (address + length - 1) / Self.pageSize
        while page <= last {
            if pageTable[Int(page)] & PagePermissions.mapped.rawValue == 0 { return false }
            page += 1
        }
        return true
    }

    // MARK: guest accesses (checked; fault with the guest PC)

    @inline(__always)
    func check(_ address: UInt64, _ size: Int, _ need: UInt8, pc: UInt64) throws(GuestException) {
        let end = address &+ UInt64(size) &- 1
        guard address < self.size, end < self.size, end >= address,
              pageTable[Int(address >> 12)] & need != 0, pageTable[Int(end >> 12)] & need != 0 else {
            throw .pageFault(pc: pc, address: address, write: need == 2)
        }
    }

    @inline(__always)
    func noteWrite(_ address: UInt64, _ size: Int) {
        let p0 = address >> 12, p1 = (address &+ UInt64(size) &- 1) >> 12
        if (pageTable[Int(p0)] | pageTable[Int(p1)]) & PagePermissions.translated.rawValue != 0 {
            for p in p0...p1 { clearTranslated(p) }
        }
    }

    /// Clears page `page`'s translated bit; the thread that clears it tells the executors.
    func clearTranslated(_ page: UInt64) {
        let bit = PagePermissions.translated.rawValue
        guard pageTable[Int(page)] & bit != 0 else { return }
        let old = tableEntry(Int(page)).loadThenBitwiseAnd(with: ~bit, ordering: .relaxed)
        if old & bit != 0 { codeModified(page) }
    }

    /// A guest load of `size` (1, 2, 4, 8) bytes, zero-extended. Throws a page fault at `pc`.
    @inline(__always)
    public func load(_ address: UInt64, size: Int, pc: UInt64) throws(GuestException) -> UInt64 {
        try check(address, size, 1, pc: pc)
        let p = base + Int(address)
        switch size {
        case 1: return UInt64(p.load(as: UInt8.self))
        case 2: return UInt64(p.loadUnaligned(as: UInt16.self))
        case 4: return UInt64(p.loadUnaligned(as: UInt32.self))
        default: return p.loadUnaligned(as: UInt64.self)
        }
    }

    /// A guest store of the low `size` bytes of `value`. Throws a page fault at `pc`.
    @inline(__always)
    public func store(_ address: UInt64, _ value: UInt64, size: Int, pc: UInt64) throws(GuestException) {
        try check(address, size, 2, pc: pc)
        noteWrite(address, size)
        let p = base + Int(address)
        switch size {
        case 1: p.storeBytes(of: UInt8(truncatingIfNeeded: value), as: UInt8.self)
        case 2: p.storeBytes(of: UInt16(truncatingIfNeeded: value), toByteOffset: 0, as: UInt16.self)
        case 4: p.storeBytes(of: UInt32(truncatingIfNeeded: value), toByteOffset: 0, as: UInt32.self)
        default: p.storeBytes(of: value, toByteOffset: 0, as: UInt64.self)
        }
    }

    /// An instruction byte, or nil when the page is not executable. Marks the page as holding
    /// translated code.
    public func fetch(_ address: UInt64) -> UInt8? {
        guard address < size else { return nil }
        let page = Int(address >> 12)
        guard pageTable[page] & PagePermissions.execute.rawValue != 0 else { return nil }
        if pageTable[page] & PagePermissions.translated.rawValue == 0 {
            tableEntry(page).loadThenBitwiseOr(with: PagePermissions.translated.rawValue, ordering: .relaxed)
        }
        return (base + Int(address)).load(as: UInt8.self)
    }

    // MARK: host-side access (syscalls, loader)

    /// A host pointer to guest `address ..< address + length` if every page allows `access`
    /// (`.read` or `.write`), else nil. Writes through it must be announced with `didWrite`.
    public func hostPointer(_ address: UInt64, length: UInt64, access: PagePermissions) -> UnsafeMutableRawPointer? {
        if length == 0 { return address <= size ? base + Int(min(address, size)) : nil }
        guard address < size, length <= size - address else { return nil }
        var page = address / Self.pageSize
        let last = (address + length - 1) / Self.pageSize
        while page <= last {
            if pageTable[Int(page)] & access.rawValue != access.rawValue { return nil }
            page += 1
        }
        return base + Int(address)
    }

    /// Tells the address space the host wrote `address ..< address + length` (invalidates code).
    public func didWrite(_ address: UInt64, length: UInt64) {
        guard length > 0, address < size, length <= size - address else { return }
        var p = address
        while p < address + length {
            let chunk = min(length - (p - address), 1 << 20)
            let first = p >> 12, last = (p + chunk - 1) >> 12
            for page in first...last { clearTranslated(page) }
            p += chunk
        }
    }

    /// Copies bytes out of guest memory, or nil when any page is unreadable.
    public func read(_ address: UInt64, count: Int) -> [UInt8]? {
        guard count >= 0, let p = hostPointer(address, length: UInt64(count), access: .read) else { return nil }
        return Array(UnsafeRawBufferPointer(start: p, count: count))
    }

    /// Copies bytes into guest memory ignoring page permissions (the loader's and debugger's
    /// access); false when the range is not mapped or lies in a shared read-only file mapping.
    @discardableResult
    public func poke(_ address: UInt64, _ bytes: some Collection<UInt8>) -> Bool {
        let n = UInt64(bytes.count)
        guard n > 0 else { return address <= size }
        guard isMapped(address, length: n) else { return false }
        var page = address / Self.pageSize
        while page <= (address + n - 1) / Self.pageSize {
            if pageTable[Int(page)] & PagePermissions.hostReadOnly.rawValue != 0 { return false }
            page += 1
        }
        let p = base + Int(address)
        let copied: Void? = bytes.withContiguousStorageIfAvailable { buffer in
            if let source = buffer.baseAddress { p.copyMemory(from: source, byteCount: buffer.count) }
        }
        if copied == nil {
            var i = 0
            for byte in bytes { p.storeBytes(of: byte, toByteOffset: i, as: UInt8.self); i += 1 }
        }
        didWrite(address, length: n)
        return true
    }

    /// A NUL-terminated string at `address` of at most `limit` bytes, or nil when unreadable or
    /// unterminated.
    public func cString(at address: UInt64, limit: Int = 4096) -> [UInt8]? {
        var bytes: [UInt8] = []
        var a = address
        while bytes.count < limit {
            guard let p = hostPointer(a, length: 1, access: .read) else { return nil }
            let c = p.load(as: UInt8.self)
            if c == 0 { return bytes }
            bytes.append(c)
            a &+= 1
        }
        return nil
    }
}
