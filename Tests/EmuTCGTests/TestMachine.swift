import EmuTCG

/// A guest for instruction tests: code at 0x10000, a data page at 0x20000, a stack below
/// 0x40000; `run` executes until the SYSCALL appended after the code (or an exception).
final class TestMachine {
    static let code: UInt64 = 0x10000
    static let data: UInt64 = 0x20000
    static let stackTop: UInt64 = 0x40000
    let memory: GuestAddressSpace
    let cpu = CPUState()
    let executor: Executor

    /// A machine on `backend` (by default `EMU_TCG_BACKEND`, else closures).
    init(backend: ExecutorBackend = .fromEnvironment) throws {
        memory = try GuestAddressSpace(size: 1 << 24)
        try memory.map(Self.code, length: 0x4000, [.read, .execute])
        try memory.map(Self.data, length: 0x1000, [.read, .write])
        try memory.map(Self.stackTop - 0x8000, length: 0x8000, [.read, .write])
        executor = Executor(cpu: cpu, memory: memory, backend: backend)
    }

    /// Loads `bytes` followed by SYSCALL at the code address and resets RIP and RSP.
    func load(_ bytes: [UInt8]) {
        memory.poke(Self.code, bytes + [0x0F, 0x05])
        cpu.rip = Self.code
        cpu[gpr: 4] = Self.stackTop
    }

    /// Runs `bytes`; returns why it stopped.
    @discardableResult
    func run(_ bytes: [UInt8]) -> StopReason {
        load(bytes)
        return executor.run()
    }
}

/// Deterministic xorshift generator for reproducible random tests.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}
