import Synchronization
import Foundation
@testable import BlockLayer

/// A one-shot gate tasks can wait on until a test opens it.
final class AsyncGate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let open = state.withLock { state in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if open { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// A memory image whose writes (optionally) wait on a gate, and which counts what it saw.
final class ProbeDriver: BlockDriver {
    let formatName = "probe"
    let isReadOnly = false
    let limits: BlockLimits
    let memory: MemoryDriver
    let gate: AsyncGate?
    let writesEntered = Atomic<Int>(0)
    let writesCompleted = Atomic<Int>(0)
    /// Set by a test when the node is no longer current; writes completing after it count here.
    let retired = Atomic<Bool>(false)
    let writesAfterRetire = Atomic<Int>(0)

    /// Writes sleep a random time up to this, so several are in flight at once.
    let writeLatency: Duration?

    init(size: Int, gate: AsyncGate? = nil, limits: BlockLimits = .unrestricted, writeLatency: Duration? = nil) {
        memory = MemoryDriver(size: size)
        self.gate = gate
        self.limits = limits
        self.writeLatency = writeLatency
    }

    func length() async throws(BlockError) -> UInt64 { try await memory.length() }
    func read(into buffer: BlockBuffer, at offset: UInt64) async throws(BlockError) {
        try await memory.read(into: buffer, at: offset)
    }
    func write(from buffer: BlockBuffer, at offset: UInt64) async throws(BlockError) {
        writesEntered.add(1, ordering: .sequentiallyConsistent)
        if let gate { await gate.wait() }
        if Int.random(in: 0..<4) == 0 { await Task.yield() }
        if let writeLatency { try? await Task.sleep(for: writeLatency * Double.random(in: 0...1)) }
        try await memory.write(from: buffer, at: offset)
        if retired.load(ordering: .sequentiallyConsistent) { writesAfterRetire.add(1, ordering: .sequentiallyConsistent) }
        writesCompleted.add(1, ordering: .sequentiallyConsistent)
    }
    func flush() async throws(BlockError) {}
    func discard(at offset: UInt64, length: UInt64) async throws(BlockError) {
        try await memory.discard(at: offset, length: length)
    }
    func writeZeroes(at offset: UInt64, length: UInt64) async throws(BlockError) {
        try await memory.writeZeroes(at: offset, length: length)
    }
    func truncate(to length: UInt64) async throws(BlockError) { try await memory.truncate(to: length) }
}

/// Records the observer calls it gets.
final class RecordingObserver: BlockDrainObserver {
    let events = Mutex<[String]>([])
    func drainedBegin() { events.withLock { $0.append("begin") } }
    func drainedEnd() { events.withLock { $0.append("end") } }
    var log: [String] { events.withLock { $0 } }
}

/// Polls `condition` every millisecond for up to two seconds.
func eventually(_ condition: () -> Bool) async -> Bool {
    for _ in 0..<2000 {
        if condition() { return true }
        try? await Task.sleep(nanoseconds: 1_000_000)
    }
    return condition()
}

/// A fresh path in the temporary directory, removed by the caller.
func temporaryPath() -> String {
    NSTemporaryDirectory() + "emu-block-\(UUID().uuidString).img"
}

/// A memory node of `size` bytes.
func memoryNode(_ name: String, size: Int, readOnly: Bool = false) async throws -> BlockNode {
    try await BlockNode(name: name, driver: MemoryDriver(size: size, readOnly: readOnly))
}

/// A boolean and a counter tasks share (an atomic in a class, so closures can capture it).
final class SharedFlag: Sendable {
    private let value = Atomic<Bool>(false)
    private let count = Atomic<Int>(0)
    var isSet: Bool { value.load(ordering: .sequentiallyConsistent) }
    func set() { value.store(true, ordering: .sequentiallyConsistent) }
    var counted: Int { count.load(ordering: .sequentiallyConsistent) }
    func increment() { count.add(1, ordering: .sequentiallyConsistent) }
}
