#if canImport(Glibc)
import Glibc
#endif
import EmuTCG
import Testing
@testable import EmuLinuxUser

/// mremap's moves, checks and code invalidation, and the interval-timer rows.
@Suite struct RemapAndTimerTests {
    func process(_ name: String) throws -> (LinuxProcess, String) {
        let path = "/tmp/emu-user-remap-\(name)-\(getpid()).elf"
        #expect(FileManagerLite.write(path, LoaderTests().elf(code: [0x0F, 0x05])))
        return (try LinuxProcess(path: path, arguments: [path], environment: []), path)
    }

    func mremap(_ p: LinuxProcess, _ old: UInt64, _ oldSize: UInt64, _ newSize: UInt64, _ flags: UInt64, _ target: UInt64 = 0) -> Int64 {
        MemorySyscalls.mremap(p.mainThread, SyscallArgs(values: (old, oldSize, newSize, flags, target, 0)))
    }

    @Test func movesKeepContentsAndPermissionsAndFreeTheOldRange() throws {
        let (p, path) = try process("move")
        defer { unlink(path) }
        let m = p.memory
        let a: UInt64 = 0x1000_0000
        try m.map(a, length: 0x3000, [.read, .write])
        try m.map(a + 0x3000, length: 0x1000, [.read]) // in the way
        _ = m.poke(a, (0..<0x3000).map { UInt8(truncatingIfNeeded: $0 * 7 + 1) })
        try m.protect(a + 0x2000, length: 0x1000, [.read])
        #expect(mremap(p, a, 0x3000, 0x8000, 0) == -LinuxErrno.ENOMEM, "cannot grow in place without MAYMOVE")
        let moved = UInt64(bitPattern: mremap(p, a, 0x3000, 0x8000, MemorySyscalls.MREMAP_MAYMOVE))
        #expect(moved != a && moved % 0x1000 == 0)
        #expect(m.read(moved, count: 0x3000) == (0..<0x3000).map { UInt8(truncatingIfNeeded: $0 * 7 + 1) })
        #expect(m.permissions(at: moved) == [.read, .write] && m.permissions(at: moved + 0x2000) == [.read])
        #expect(m.permissions(at: moved + 0x7000) == [.read] && m.read(moved + 0x7000, count: 8) == [UInt8](repeating: 0, count: 8))
        #expect(m.isFree(a, length: 0x3000) && !m.isFree(a + 0x3000, length: 0x1000))
        // MREMAP_FIXED onto a chosen range, replacing what is there; shrinking on the way.
        let target: UInt64 = 0x2000_0000
        try m.map(target, length: 0x4000, [.read, .write])
        _ = m.poke(target, [UInt8](repeating: 0xEE, count: 0x4000))
        let flags = MemorySyscalls.MREMAP_MAYMOVE | MemorySyscalls.MREMAP_FIXED
        #expect(mremap(p, moved, 0x8000, 0x2000, flags, target) == Int64(target))
        #expect(m.read(target, count: 4) == [1, 8, 15, 22] && m.read(target + 0x2000, count: 4) == [0xEE, 0xEE, 0xEE, 0xEE])
        #expect(m.isFree(moved, length: 0x8000))
        // The checks: FIXED without MAYMOVE, overlap, unknown flags, unaligned, zero size, unmapped,
        // a target outside the address space.
        #expect(mremap(p, target, 0x1000, 0x1000, MemorySyscalls.MREMAP_FIXED, 0x3000_0000) == -LinuxErrno.EINVAL)
        #expect(mremap(p, target, 0x2000, 0x2000, flags, target + 0x1000) == -LinuxErrno.EINVAL)
        #expect(mremap(p, target, 0x1000, 0x1000, 8) == -LinuxErrno.EINVAL)
        #expect(mremap(p, target + 1, 0x1000, 0x1000, 0) == -LinuxErrno.EINVAL)
        #expect(mremap(p, target, 0x1000, 0, 0) == -LinuxErrno.EINVAL)
        #expect(mremap(p, a, 0x1000, 0x2000, MemorySyscalls.MREMAP_MAYMOVE) == -LinuxErrno.EFAULT)
        #expect(mremap(p, target, 0x1000, 0x1000, flags, m.size - 0x800) == -LinuxErrno.EINVAL)
        #expect(mremap(p, target, 0x1000, 0x1000, flags, UInt64.max & ~0xFFF) == -LinuxErrno.EINVAL)
    }

    @Test func codeOnMovedPagesIsTranslatedAgain() throws {
        let (p, path) = try process("code")
        defer { unlink(path) }
        let m = p.memory, cpu = p.cpu
        let code: UInt64 = 0x1000_0000, there: UInt64 = 0x1800_0000
        try m.map(code, length: 0x1000, [.read, .write, .execute])
        // mov eax, 42 ; syscall
        _ = m.poke(code, [0xB8, 42, 0, 0, 0, 0x0F, 0x05])
        cpu.rip = code
        #expect(p.executor.run() == .syscall(at: code + 5) && cpu[gpr: 0] == 42)
        let flags = MemorySyscalls.MREMAP_MAYMOVE | MemorySyscalls.MREMAP_FIXED
        #expect(mremap(p, code, 0x1000, 0x1000, flags, there) == Int64(there))
        // New code at the old address runs as itself; the moved code runs at its new address.
        try m.map(code, length: 0x1000, [.read, .write, .execute])
        _ = m.poke(code, [0xB8, 7, 0, 0, 0, 0x0F, 0x05])
        cpu.rip = code
        #expect(p.executor.run() == .syscall(at: code + 5) && cpu[gpr: 0] == 7)
        cpu.rip = there
        #expect(p.executor.run() == .syscall(at: there + 5) && cpu[gpr: 0] == 42)
        // The old address unmapped: fetching there faults.
        #expect(mremap(p, code, 0x1000, 0x1000, flags, 0x1900_0000) == 0x1900_0000)
        cpu.rip = code
        guard case .exception(.pageFault) = p.executor.run() else { Issue.record("ran unmapped code"); return }
    }

    @Test func intervalTimersPassThroughAndTheirSignalsAreForwarded() throws {
        for (number, name) in [(36, "getitimer"), (37, "alarm"), (38, "setitimer")] {
            #expect(SyscallTable.byNumber[number]?.name == name)
            #expect(SyscallTable.byNumber[number]?.canBlock == false)
        }
        for signal: Int32 in [14, 26, 27] { #expect(LinuxProcess.forwardedSignals.contains(signal)) }
        // getitimer(ITIMER_VIRTUAL) through the row into guest memory: a disarmed timer reads zero.
        let (p, path) = try process("timer")
        defer { unlink(path) }
        try p.memory.map(0x1000_0000, length: 0x1000, [.read, .write])
        _ = p.memory.poke(0x1000_0000, [UInt8](repeating: 0xFF, count: 32))
        guard let getitimer = SyscallTable.byNumber[36] else { Issue.record("no getitimer"); return }
        #expect(SyscallTable.passThrough(getitimer, SyscallArgs(values: (1, 0x1000_0000, 0, 0, 0, 0)), p.mainThread) == 0)
        #expect(p.memory.read(0x1000_0000, count: 32) == [UInt8](repeating: 0, count: 32))
        #expect(SyscallTable.passThrough(getitimer, SyscallArgs(values: (1, 0x7000_0000, 0, 0, 0, 0)), p.mainThread) == -LinuxErrno.EFAULT)
        // Without forwarded host signals (a library user, like this test), arming a timer would
        // let its signal kill the host process: the guest gets ENOSYS and nothing is armed.
        _ = p.memory.poke(0x1000_0000, [UInt8](repeating: 0, count: 8) + [0x40, 0x42, 0x0F, 0, 0, 0, 0, 0] + [UInt8](repeating: 0, count: 16))
        #expect(TimerSyscalls.setitimer(p.mainThread, SyscallArgs(values: (0, 0x1000_0000, 0, 0, 0, 0))) == -LinuxErrno.ENOSYS)
        #expect(TimerSyscalls.alarm(p.mainThread, SyscallArgs(values: (1, 0, 0, 0, 0, 0))) == -LinuxErrno.ENOSYS)
        #expect(SyscallTable.passThrough(getitimer, SyscallArgs(values: (0, 0x1000_0000, 0, 0, 0, 0)), p.mainThread) == 0)
        #expect(p.memory.read(0x1000_0000, count: 32) == [UInt8](repeating: 0, count: 32), "ITIMER_REAL stays disarmed")
    }

    @Test func posixTimersTakeOnlyNotificationsTheEmulatorForwards() throws {
        let (p, path) = try process("posix-timer")
        defer { unlink(path) }
        let t = p.mainThread
        try p.memory.map(0x1000_0000, length: 0x1000, [.read, .write])
        func sigevent(signal: Int32, notify: Int32, tid: Int32 = 0) {
            var b = [UInt8](repeating: 0, count: 64)
            for (o, v) in [(8, signal), (12, notify), (16, tid)] {
                for k in 0..<4 { b[o + k] = UInt8(truncatingIfNeeded: UInt32(bitPattern: v) >> (8 * UInt32(k))) }
            }
            _ = p.memory.poke(0x1000_0000, b)
        }
        func create() -> Int64 { TimerSyscalls.timerCreate(t, SyscallArgs(values: (1, 0x1000_0000, 0x1000_0100, 0, 0, 0))) }
        sigevent(signal: 14, notify: TimerSyscalls.SIGEV_SIGNAL)
        #expect(create() == -LinuxErrno.ENOSYS, "no forwarding: nothing could take the signal")
        p.forwardsHostSignals = true // only the flag: the timer below is never armed
        defer { p.forwardsHostSignals = false }
        sigevent(signal: 32, notify: TimerSyscalls.SIGEV_SIGNAL)
        #expect(create() == -LinuxErrno.EINVAL, "a signal the emulator does not forward")
        sigevent(signal: 14, notify: 2)
        #expect(create() == -LinuxErrno.EINVAL, "SIGEV_THREAD is glibc's, not the kernel's")
        sigevent(signal: 14, notify: TimerSyscalls.SIGEV_THREAD_ID, tid: 0x7FFF_FFF0)
        #expect(create() == -LinuxErrno.EINVAL, "a thread that is not ours")
        #expect(TimerSyscalls.timerCreate(t, SyscallArgs(values: (1, 0x7000_0000, 0x1000_0100, 0, 0, 0))) == -LinuxErrno.EFAULT)
        sigevent(signal: 0, notify: TimerSyscalls.SIGEV_NONE)
        _ = p.memory.poke(0x1000_0100, [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(create() == 0)
        let id = try #require(p.memory.read(0x1000_0100, count: 4)).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        #expect(id != 0xFFFF_FFFF, "the host's timer id was written")
        guard let delete = SyscallTable.byNumber[226] else { Issue.record("no timer_delete"); return }
        #expect(SyscallTable.passThrough(delete, SyscallArgs(values: (id, 0, 0, 0, 0, 0)), t) == 0)
    }
}
