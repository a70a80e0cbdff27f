import Testing
@testable import NinePServer
#if canImport(Glibc)
import Glibc
#endif

@Suite("Blocking pool")
struct BlockingPoolTests {
    /// A task preferring the pool's executor runs on the pool's threads, and `run` then calls
    /// its body on the same thread (no hop); from elsewhere, `run` still moves to the pool.
    @Test func runIsInlineOnThePoolAndHopsFromElsewhere() async throws {
        let pool = BlockingPool(label: "test.pool")
        let onPool = await Task(executorPreference: pool.executor) { () -> (Bool, Bool) in
            let caller = pthread_self()
            let inBody = try? await pool.run { (pool.executor.isCurrent, pthread_equal(pthread_self(), caller) != 0) }
            return inBody ?? (false, false)
        }.value
        #expect(onPool == (true, true), "the body ran inline on the task's own pool thread")
        let fromElsewhere = try await Task { try await pool.run { pool.executor.isCurrent } }.value
        #expect(fromElsewhere, "run moves work from the cooperative pool to the blocking pool")
        #expect(!pool.executor.isCurrent)
    }

    /// A task preferring the pool but started elsewhere (a request started on the loop's
    /// thread) moves to the pool for `run`'s body and stays on the pool afterwards. (Which pool
    /// thread it resumes on is the runtime's choice: usually the body's, not under load.)
    @Test func aTaskStartedElsewhereMovesToThePoolForRun() async throws {
        let pool = BlockingPool(label: "test.pool")
        let result = await Task.immediate(executorPreference: pool.executor) { () -> (Bool, Bool, Bool) in
            let startedOnPool = pool.executor.isCurrent
            let bodyOnPool = (try? await pool.run { pool.executor.isCurrent }) ?? false
            return (startedOnPool, bodyOnPool, pool.executor.isCurrent)
        }.value
        #expect(result.0 == false, "started on the caller's thread")
        #expect(result.1, "the body ran on the pool")
        #expect(result.2, "continues on the pool")
    }

    /// Cancellation before the work starts still throws, inline or not.
    @Test func cancelledBeforeStartThrows() async {
        let pool = BlockingPool(label: "test.pool")
        let task = Task(executorPreference: pool.executor) { () -> Bool in
            withUnsafeCurrentTask { $0?.cancel() }
            do {
                try await pool.run { () }
                return false
            } catch {
                return error is CancellationError
            }
        }
        #expect(await task.value)
    }
}
