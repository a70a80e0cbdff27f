import CEmuSystem
import EmuTCG

/// brk, mmap, munmap, mprotect, mremap, madvise: the guest's address space, kept in the
/// `GuestAddressSpace` window.
enum MemorySyscalls {
    static let page = GuestAddressSpace.pageSize
    static let MAP_SHARED: UInt64 = 0x01, MAP_PRIVATE: UInt64 = 0x02, MAP_FIXED: UInt64 = 0x10
    static let MAP_ANONYMOUS: UInt64 = 0x20, MAP_32BIT: UInt64 = 0x40, MAP_FIXED_NOREPLACE: UInt64 = 0x100000

    static func permissions(_ prot: UInt64) -> PagePermissions {
        PagePermissions(rawValue: UInt8(prot & 7))
    }

    static func roundUp(_ n: UInt64) -> UInt64? {
        let (r, o) = n.addingReportingOverflow(page - 1)
        return o ? nil : r & ~(page - 1)
    }

    /// A free range of `length` bytes at or below `ceiling`, searched top-down.
    static func findFree(_ process: LinuxProcess, length: UInt64, ceiling: UInt64, floor: UInt64 = 0x1_0000) -> UInt64? {
        ELFLoader.freeRange(in: process.memory, length: length, ceiling: ceiling, floor: floor)
    }

    static func mmap(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        let address = a[0], prot = a[2], flags = a[3], fd = Int32(truncatingIfNeeded: a[4]), offset = a[5]
        guard a[1] > 0, let length = roundUp(a[1]) else { return -LinuxErrno.EINVAL }
        guard offset % page == 0 else { return -LinuxErrno.EINVAL }
        let type = flags & 3
        guard type == MAP_SHARED || type == MAP_PRIVATE || type == 3 else { return -LinuxErrno.EINVAL }
        let memory = p.memory
        var target: UInt64
        if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0 {
            guard address % page == 0, address < memory.size, length <= memory.size - address else { return -LinuxErrno.ENOMEM }
            if flags & MAP_FIXED_NOREPLACE != 0 && !memory.isFree(address, length: length) { return -LinuxErrno.EEXIST }
            target = address
        } else if address != 0, address % page == 0, address < memory.size, length <= memory.size - address,
                  memory.isFree(address, length: length) {
            target = address
        } else {
            let ceiling = flags & MAP_32BIT != 0 ? UInt64(1) << 31 : p.process.mmapCeiling
            guard let found = findFree(p.process, length: length, ceiling: ceiling) else { return -LinuxErrno.ENOMEM }
            target = found
        }
        let perms = permissions(prot)
        if flags & MAP_ANONYMOUS != 0 {
            do { try memory.map(target, length: length, perms) } catch { return -LinuxErrno.ENOMEM }
        } else {
            let e = memory.mapFile(target, length: length, perms, fd: fd, offset: Int64(bitPattern: offset),
                                   shared: type == MAP_SHARED)
            if e != 0 { return -Int64(e) }
        }
        return Int64(bitPattern: target)
    }

    static func munmap(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        guard a[0] % page == 0, a[1] > 0, let length = roundUp(a[1]) else { return -LinuxErrno.EINVAL }
        let memory = p.memory
        guard a[0] < memory.size else { return 0 }
        let clipped = min(length, memory.size - a[0])
        do { try memory.unmap(a[0], length: clipped) } catch { return -LinuxErrno.EINVAL }
        return 0
    }

    static func mprotect(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        guard a[0] % page == 0, let length = roundUp(a[1]) else { return -LinuxErrno.EINVAL }
        if length == 0 { return 0 }
        guard p.memory.isMapped(a[0], length: length) else { return -LinuxErrno.ENOMEM }
        do { try p.memory.protect(a[0], length: length, permissions(a[2])) } catch { return -LinuxErrno.ENOMEM }
        return 0
    }

    static func brk(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        let requested = a[0]
        let memory = p.memory
        guard requested >= p.process.brkStart, requested < p.process.mmapCeiling else { return Int64(bitPattern: p.process.brkCurrent) }
        guard let oldTop = roundUp(p.process.brkCurrent), let newTop = roundUp(requested) else { return Int64(bitPattern: p.process.brkCurrent) }
        if newTop > oldTop {
            guard memory.isFree(oldTop, length: newTop - oldTop) else { return Int64(bitPattern: p.process.brkCurrent) }
            do { try memory.map(oldTop, length: newTop - oldTop, [.read, .write]) } catch { return Int64(bitPattern: p.process.brkCurrent) }
        } else if newTop < oldTop {
            try? memory.unmap(newTop, length: oldTop - newTop)
        }
        p.process.brkCurrent = requested
        return Int64(bitPattern: requested)
    }

    static let MREMAP_MAYMOVE: UInt64 = 1, MREMAP_FIXED: UInt64 = 2

    /// mremap: shrink in place, grow in place when the pages after are free, otherwise (with
    /// MREMAP_MAYMOVE) move to a free range or (with MREMAP_FIXED) to the given one, replacing
    /// what is there. A move keeps contents, backing and permissions (`GuestAddressSpace.move`);
    /// growth adds zeroed pages with the permissions of the last old page. EINVAL for unknown
    /// flags, FIXED without MAYMOVE, unaligned addresses, zero sizes, an old range overlapping
    /// the new one or a new range outside the address space; EFAULT when the old range is not
    /// all mapped; ENOMEM when it cannot grow.
    static func mremap(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        let old = a[0], flags = a[3], requested = a[4]
        guard flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED) == 0,
              flags & MREMAP_FIXED == 0 || flags & MREMAP_MAYMOVE != 0 else { return -LinuxErrno.EINVAL }
        guard old % page == 0, let oldLength = roundUp(a[1]), let newLength = roundUp(a[2]), oldLength > 0, newLength > 0 else {
            return -LinuxErrno.EINVAL
        }
        let memory = p.memory
        guard old < memory.size, oldLength <= memory.size - old, memory.isMapped(old, length: oldLength) else {
            return -LinuxErrno.EFAULT
        }
        if flags & MREMAP_FIXED != 0 {
            guard requested % page == 0, requested < memory.size, newLength <= memory.size - requested,
                  requested >= old + oldLength || old >= requested + newLength else { return -LinuxErrno.EINVAL }
            return move(p, old, oldLength, to: requested, newLength)
        }
        if newLength <= oldLength {
            if newLength < oldLength { try? memory.unmap(old + newLength, length: oldLength - newLength) }
            return Int64(bitPattern: old)
        }
        let extra = newLength - oldLength
        if old + oldLength <= memory.size - extra, memory.isFree(old + oldLength, length: extra) {
            do { try memory.map(old + oldLength, length: extra, memory.permissions(at: old + oldLength - 1)) } catch {
                return -LinuxErrno.ENOMEM
            }
            return Int64(bitPattern: old)
        }
        guard flags & MREMAP_MAYMOVE != 0,
              let target = findFree(p.process, length: newLength, ceiling: p.process.mmapCeiling) else { return -LinuxErrno.ENOMEM }
        return move(p, old, oldLength, to: target, newLength)
    }

    /// Moves the first min(old, new) bytes to `target`, unmaps the rest of the old range and
    /// adds zeroed pages when growing.
    static func move(_ p: GuestThread, _ old: UInt64, _ oldLength: UInt64, to target: UInt64, _ newLength: UInt64) -> Int64 {
        let memory = p.memory
        let kept = min(oldLength, newLength)
        let perms = memory.permissions(at: old + oldLength - 1)
        do { try memory.move(old, length: kept, to: target) } catch { return -LinuxErrno.EFAULT }
        if oldLength > kept { try? memory.unmap(old + kept, length: oldLength - kept) }
        if newLength > kept {
            do { try memory.map(target + kept, length: newLength - kept, perms) } catch { return -LinuxErrno.ENOMEM }
        }
        return Int64(bitPattern: target)
    }

    /// mincore: the host's residency answer for the guest range (which lives in the host
    /// window). EINVAL for an unaligned address, ENOMEM when a page of the range is not mapped
    /// in the guest, EFAULT when the vector (one byte a page) is not writable.
    static func mincore(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        guard a[0] % page == 0 else { return -LinuxErrno.EINVAL }
        guard let length = roundUp(a[1]) else { return -LinuxErrno.ENOMEM }
        if length == 0 { return 0 }
        let memory = p.memory
        guard a[0] < memory.size, length <= memory.size - a[0], memory.isMapped(a[0], length: length) else {
            return -LinuxErrno.ENOMEM
        }
        let pages = length / page
        guard let vector = memory.hostPointer(a[2], length: pages, access: .write) else { return -LinuxErrno.EFAULT }
        let r = emu_raw_syscall(27, Int(bitPattern: memory.base + Int(a[0])), Int(length), Int(bitPattern: vector), 0, 0, 0)
        if r >= 0 { memory.didWrite(a[2], length: pages) }
        return Int64(r)
    }

    static func madvise(_ p: GuestThread, _ a: SyscallArgs) -> Int64 {
        guard a[0] % page == 0, let length = roundUp(a[1]) else { return -LinuxErrno.EINVAL }
        if a[2] == 4, length > 0 { // MADV_DONTNEED: private pages read back as zeros (glibc's arenas rely on it)
            guard p.memory.isMapped(a[0], length: length), let host = p.memory.hostPointer(a[0], length: length, access: []) else {
                return -LinuxErrno.ENOMEM
            }
            let r = emu_raw_syscall(28, Int(bitPattern: host), Int(length), 4, 0, 0, 0)
            if r < 0 { return Int64(r) }
            p.memory.didWrite(a[0], length: length)
        }
        return 0
    }

    /// `handler` run with the process's mappings locked: a thread's mmap cannot pick the range
    /// another thread is mapping, and brk's bookkeeping stays consistent.
    static func serialised(_ handler: @escaping @Sendable (GuestThread, SyscallArgs) -> Int64) -> @Sendable (GuestThread, SyscallArgs) -> Int64 {
        { thread, args in thread.process.mappingLock.withLock { _ in handler(thread, args) } }
    }
}
