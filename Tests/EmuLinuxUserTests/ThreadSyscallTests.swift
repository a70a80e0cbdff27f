#if canImport(Glibc)
import Glibc
#endif
import CEmuSystem
import EmuTCG
import Synchronization
import Testing
@testable import EmuLinuxUser

/// A host thread running `body`, joined with `join()`.
final class TestHostThread {
    final class Body: @unchecked Sendable { // handed to exactly one new thread, called once
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }
    var thread = pthread_t()
    let started: Bool

    init(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Body(body)).toOpaque()
        started = pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            Unmanaged<TestHostThread.Body>.fromOpaque(raw).takeRetainedValue().run()
            return nil
        }, box) == 0
    }

    func join() { if started { pthread_join(thread, nil) } }
}

/// futex through the syscall layer on guest memory, waits interrupted by a kick, and the
/// thread-directed signal bookkeeping of tgkill.
@Suite(.serialized) struct ThreadSyscallTests {
    static func process() throws -> (LinuxProcess, String) {
        let path = "/tmp/emu-user-thread-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).elf"
        #expect(FileManagerLite.write(path, LoaderTests().elf(code: [0x0F, 0x05])))
        return (try LinuxProcess(path: path, arguments: [path], environment: []), path)
    }

    static let word = LinuxProcess.stackTop - 0x1000
    static func futex(_ t: GuestThread, op: UInt64, value: UInt64, timeout: UInt64 = 0, address: UInt64 = word) -> Int64 {
        ThreadSyscalls.futex(t, SyscallArgs(values: (address, op, value, timeout, 0, 0)))
    }

    /// A second guest thread of `p`, made and started on the calling host thread.
    static func secondThread(_ p: LinuxProcess) -> GuestThread {
        let cpu = CPUState()
        let t = GuestThread(process: p, cpu: cpu, executor: Executor(cpu: cpu, memory: p.memory), signalMask: 0, isInitial: false)
        t.start()
        return t
    }

    /// FUTEX_WAKE_OP stores into its second word; when that word is translated code, the
    /// translation must go, as for any guest store.
    @Test func wakeOpStoringIntoCodeDropsItsTranslation() throws {
        let (p, path) = try Self.process()
        defer { unlink(path) }
        let t = p.mainThread
        let page: UInt64 = 0x2000_0000
        try p.memory.map(page, length: 0x1000, [.read, .write, .execute])
        // page+3: mov eax, 1; syscall — the immediate is the aligned word at page+4.
        #expect(p.memory.poke(page + 3, [0xB8, 0x01, 0x00, 0x00, 0x00, 0x0F, 0x05]))
        func runOnce() -> UInt64 {
            t.cpu.rip = page + 3
            _ = t.executor.run()
            return t.cpu[gpr: 0]
        }
        #expect(runOnce() == 1)
        // FUTEX_OP_SET of 7 into the second word, compare always true; nobody to wake.
        let wakeOp = SyscallArgs(values: (Self.word, 5 | 128, 1, 0, page + 4, 7 << 12))
        #expect(ThreadSyscalls.futex(t, wakeOp) >= 0)
        #expect(p.memory.read(page + 4, count: 4) == [7, 0, 0, 0])
        #expect(runOnce() == 7, "the block translated before the store ran again")
    }

    @Test func futexChecksTheGuestWordFirst() throws {
        let (p, path) = try Self.process()
        defer { unlink(path) }
        let t = p.mainThread
        #expect(Self.futex(t, op: 128, value: 1) == -LinuxErrno.EAGAIN) // the word is 0, not 1: no wait
        #expect(Self.futex(t, op: 128, value: 0, address: 0x7000_0000) == -LinuxErrno.EFAULT)
        #expect(Self.futex(t, op: 128, value: 0, address: Self.word + 2) == -LinuxErrno.EINVAL)
        #expect(Self.futex(t, op: 129, value: 1) == 0) // nobody waits
        #expect(Self.futex(t, op: 99, value: 0) == -LinuxErrno.ENOSYS)
        // A relative timeout in guest memory: 2 ms.
        let timeout = Self.word + 64
        let twoMilliseconds: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x84, 0x1E, 0, 0, 0, 0, 0] // tv_sec 0, tv_nsec 2,000,000
        #expect(p.memory.poke(timeout, twoMilliseconds))
        #expect(Self.futex(t, op: 128, value: 0, timeout: timeout) == -110) // ETIMEDOUT
    }

    @Test func aWakeOnTheGuestWordReleasesAWaiterOnAnotherHostThread() throws {
        let (p, path) = try Self.process()
        defer { unlink(path) }
        let result = Mutex<Int64?>(nil)
        let waiter = TestHostThread {
            let t = Self.secondThread(p)
            let r = Self.futex(t, op: 128, value: 0) // FUTEX_WAIT_PRIVATE while the word is 0
            result.withLock { $0 = r }
        }
        var woken: Int64 = 0
        for _ in 0..<2000 where woken == 0 {
            usleep(1000)
            woken = Self.futex(p.mainThread, op: 129, value: 1)
        }
        waiter.join()
        #expect(woken == 1)
        #expect(result.withLock { $0 } == 0)
    }

    @Test func aKickInterruptsAFutexWait() throws {
        let (p, path) = try Self.process()
        defer { unlink(path) }
        p.installKickHandler()
        let tid = Atomic<Int32>(0)
        let result = Mutex<Int64?>(nil)
        let waiter = TestHostThread {
            let t = Self.secondThread(p)
            tid.store(t.handle.tid.load(ordering: .relaxed), ordering: .releasing)
            var r: Int64
            repeat {
                r = Self.futex(t, op: 128, value: 0)
            } while r == -LinuxErrno.EAGAIN
            t.takeHostSignals()
            result.withLock { $0 = r }
        }
        while tid.load(ordering: .acquiring) == 0 { usleep(1000) }
        var interrupted: Int64? = nil
        for _ in 0..<2000 {
            usleep(1000)
            p.thread(tid: tid.load(ordering: .acquiring))?.kick()
            interrupted = result.withLock { $0 }
            if interrupted != nil { break }
        }
        waiter.join()
        // Inside the kernel: EINTR; caught before entering it: -ERESTARTSYS. Either way the wait ended.
        #expect(interrupted == -LinuxErrno.EINTR || interrupted == -512)
    }

    @Test func tgkillMarksOnlyTheTargetThread() throws {
        let (p, path) = try Self.process()
        defer { unlink(path) }
        p.installKickHandler()
        p.signalActions.withLock { $0[10] = GuestSignalAction(handler: 0x400100, flags: SignalDelivery.SA_RESTORER, restorer: 0x400200, mask: 0) }
        let main = p.mainThread
        main.start()
        let other = Mutex<ThreadHandle?>(nil)
        let done = Atomic<Bool>(false)
        let worker = TestHostThread {
            let t = Self.secondThread(p)
            other.withLock { $0 = t.handle }
            while !done.load(ordering: .acquiring) { usleep(1000) }
            _ = t.process.threads.withLock { list in list.removeAll { $0 === t.handle } }
        }
        var target: ThreadHandle? = nil
        while target == nil { usleep(1000); target = other.withLock { $0 } }
        guard let target else { return }
        let tid = UInt64(target.tid.load(ordering: .relaxed))
        #expect(ThreadSyscalls.tgkill(main, SyscallArgs(values: (UInt64(getpid()), tid, 10, 0, 0, 0))) == 0)
        #expect(target.pending.mask == 1 << 9 && target.pending.take(10)?.code == QueuedSignal.SI_TKILL)
        #expect(main.handle.pending.mask == 0 && p.pendingSignals.mask == 0)
        #expect(ThreadSyscalls.tgkill(main, SyscallArgs(values: (UInt64(getpid()), 0x7FFF_FFF0, 10, 0, 0, 0))) == -LinuxErrno.ESRCH)
        done.store(true, ordering: .releasing)
        worker.join()
    }

    /// A robust list in guest memory: the dying thread's locks are marked FUTEX_OWNER_DIED (the
    /// waiters bit kept), another owner's lock is left alone, and a list that loops ends.
    @Test func aDyingThreadsRobustLocksAreMarkedOwnerDied() throws {
        let (p, path) = try Self.process()
        defer { unlink(path) }
        let t = p.mainThread
        let tid = UInt64(UInt32(bitPattern: emu_gettid()))
        let head = Self.word, a = head + 0x100, b = head + 0x200, c = head + 0x300
        func le(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }
        // head: next = a, futex_offset = 16, list_op_pending = c; a -> b -> head.
        #expect(p.memory.poke(head, le(a) + le(16) + le(c)))
        #expect(p.memory.poke(a, le(b) + le(0) + le(tid | 0x8000_0000)))      // ours, with waiters
        #expect(p.memory.poke(b, le(head) + le(0) + le(12345)))               // someone else's
        #expect(p.memory.poke(c, le(0) + le(0) + le(tid)))                    // pending, ours
        t.robustList = (head, 24)
        RobustList.release(t)
        #expect(try p.memory.load(a + 16, size: 4, pc: 0) == 0xC000_0000)
        #expect(try p.memory.load(b + 16, size: 4, pc: 0) == 12345)
        #expect(try p.memory.load(c + 16, size: 4, pc: 0) == 0x4000_0000)
        // A list whose entries point at each other forever: the walk stops at the limit.
        #expect(p.memory.poke(head, le(a) + le(16) + le(0)))
        #expect(p.memory.poke(a, le(b) + le(0) + le(tid)))
        #expect(p.memory.poke(b, le(a) + le(0) + le(0)))
        RobustList.release(t)
        #expect(try p.memory.load(a + 16, size: 4, pc: 0) == 0x4000_0000)
        // An unmapped entry ends the walk without a host fault.
        #expect(p.memory.poke(head, le(0x7000_0000) + le(16) + le(0)))
        RobustList.release(t)
    }
}
