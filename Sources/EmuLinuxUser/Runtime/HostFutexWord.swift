#if canImport(Glibc)
import Glibc
#endif
import Atomics
import CEmuSystem

/// A 32-bit word the emulator's own host threads wait on with the host futex: the start-up
/// hand-shake of a new guest thread and the count of live guest threads.
///
/// `@unchecked Sendable`: the word is allocated once, freed in `deinit`, and only ever accessed
/// through atomic operations and the futex system call.
final class HostFutexWord: @unchecked Sendable {
    let storage: UnsafeMutablePointer<UnsafeAtomic<UInt32>.Storage>
    var atomic: UnsafeAtomic<UInt32> { UnsafeAtomic(at: storage) }

    /// A word holding `value`.
    init(_ value: UInt32) {
        storage = .allocate(capacity: 1)
        storage.initialize(to: UnsafeAtomic<UInt32>.Storage(value))
    }

    deinit { storage.deallocate() }

    var value: UInt32 { atomic.load(ordering: .acquiring) }

    /// Stores `value` and wakes every waiter.
    func set(_ value: UInt32) {
        atomic.store(value, ordering: .releasing)
        wakeAll()
    }

    /// Adds `delta` (wrapping); returns the new value and wakes every waiter.
    @discardableResult
    func add(_ delta: UInt32) -> UInt32 {
        let new = atomic.wrappingIncrementThenLoad(by: delta, ordering: .acquiringAndReleasing)
        wakeAll()
        return new
    }

    func wakeAll() {
        _ = emu_raw_syscall(202, Int(bitPattern: UnsafeMutableRawPointer(storage)), 129 /* FUTEX_WAKE_PRIVATE */, Int(Int32.max), 0, 0, 0)
    }

    /// Sleeps while the word equals `expected`, for at most `milliseconds` (nil: no limit). May
    /// return early (a signal, a wake for another value); callers re-check in a loop.
    func wait(whileEquals expected: UInt32, milliseconds: Int? = nil) {
        var timeout = timespec(tv_sec: (milliseconds ?? 0) / 1000, tv_nsec: ((milliseconds ?? 0) % 1000) * 1_000_000)
        let word = Int(bitPattern: UnsafeMutableRawPointer(storage))
        if milliseconds == nil {
            _ = emu_raw_syscall(202, word, 128 /* FUTEX_WAIT_PRIVATE */, Int(expected), 0, 0, 0)
        } else {
            _ = withUnsafePointer(to: &timeout) { emu_raw_syscall(202, word, 128, Int(expected), Int(bitPattern: $0), 0, 0) }
        }
    }
}
