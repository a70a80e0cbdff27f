import Synchronization

/// A server-wide bound on the memory that request and reply buffers of all connections may
/// hold at once, so that the number of clients does not multiply the per-connection bound.
///
/// Each connection opens an *account* with a reserved *floor*: enough for its input buffers
/// and one request of the largest size with its reply. The floors are set aside from the
/// budget, so a connection can always make progress however much the others hold. Beyond its
/// floor a connection draws from what no floor reserves, up to its own cap. A charge that does
/// not fit fails and the caller waits (its `wake` closure runs once memory is returned); nothing
/// is dropped. So the accounted total (``accountedBytes``) never exceeds ``limit``.
///
/// An account that cannot get its floor (every byte reserved or in use) is not opened; the
/// caller waits for memory in the same way.
public final class NinePMemoryBudget: Sendable {
    /// The most bytes accounted at once.
    public let limit: Int
    private let state = Mutex(State())

    private struct Account {
        var floor: Int
        var used: Int
        /// Waits for this account to return some of its own use (it reached its cap).
        var waiter: (@Sendable () -> Void)?
        /// What the account takes from the budget: its floor, or more once it uses more.
        var committed: Int { max(floor, used) }
    }

    private struct State {
        var accounts: [Int: Account] = [:]
        var nextID = 0
        /// Σ committed over the accounts (≤ limit).
        var committed = 0
        /// Σ used over the accounts.
        var used = 0
        var peak = 0
        /// Who waits for memory to come back.
        var waiters: [Int: @Sendable () -> Void] = [:]
        var nextWaiter = 0
    }

    /// A budget of `limit` bytes (at least 1).
    public init(limit: Int) {
        self.limit = max(limit, 1)
    }

    /// Bytes accounted to buffers now (what the connections hold).
    public var accountedBytes: Int { state.withLock { $0.used } }

    /// The most bytes accounted at once since the budget was made or ``resetPeak()``.
    public var peakAccountedBytes: Int { state.withLock { $0.peak } }

    /// Bytes set aside for accounts (their floors, or their use where it is larger).
    public var committedBytes: Int { state.withLock { $0.committed } }

    /// Accounts open now.
    public var accountCount: Int { state.withLock { $0.accounts.count } }

    /// Starts a new peak measurement from the current total.
    public func resetPeak() { state.withLock { $0.peak = $0.used } }

    /// Opens an account whose floor is `floor` bytes and which uses `initial` of them at once.
    /// Returns its identifier, or nil when the floor does not fit now: then `wake` is called
    /// once memory comes back (try again then).
    func open(floor: Int, initial: Int, wake: @escaping @Sendable () -> Void) -> Int? {
        state.withLock { state -> Int? in
            let account = Account(floor: max(floor, initial), used: initial)
            guard state.committed + account.committed <= limit else {
                state.waiters[state.nextWaiter] = wake
                state.nextWaiter += 1
                return nil
            }
            let id = state.nextID
            state.nextID += 1
            state.accounts[id] = account
            state.committed += account.committed
            state.used += initial
            state.peak = max(state.peak, state.used)
            return id
        }
    }

    /// What ``charge(_:_:cap:wake:)`` did.
    enum ChargeResult: Equatable {
        case charged
        /// The account would use more than its cap: `wake` runs once it returns some of its own.
        case overCap
        /// The budget cannot hold it now: `wake` runs once memory comes back anywhere.
        case overBudget
    }

    /// Adds `bytes` to account `id` if its use stays within `cap` (or within its floor) and
    /// the budget can hold it. `wake` is kept when it does not fit.
    func charge(_ id: Int, _ bytes: Int, cap: Int, wake: @escaping @Sendable () -> Void) -> ChargeResult {
        state.withLock { state -> ChargeResult in
            guard var account = state.accounts[id] else { return .overCap }
            let used = account.used + bytes
            guard used <= max(cap, account.floor) else {
                state.accounts[id]?.waiter = wake
                return .overCap
            }
            let before = account.committed
            account.used = used
            let growth = account.committed - before
            guard state.committed + growth <= limit else {
                state.waiters[state.nextWaiter] = wake
                state.nextWaiter += 1
                return .overBudget
            }
            state.accounts[id] = account
            state.committed += growth
            state.used += bytes
            state.peak = max(state.peak, state.used)
            return .charged
        }
    }

    /// Returns `bytes` of account `id` (no more than it uses; nothing for a closed account)
    /// and wakes the waiters.
    func release(_ id: Int, _ bytes: Int) {
        guard bytes > 0 else { return }
        let woken = state.withLock { state -> [@Sendable () -> Void] in
            guard var account = state.accounts[id] else { return [] }
            let returned = min(bytes, account.used)
            let before = account.committed
            account.used -= returned
            let own = account.waiter
            account.waiter = nil
            state.accounts[id] = account
            state.committed -= before - account.committed
            state.used -= returned
            // Only memory beyond a floor helps the others.
            let others = before > account.committed ? Self.takeWaiters(&state) : []
            return others + (own.map { [$0] } ?? [])
        }
        woken.forEach { $0() }
    }

    /// Lowers account `id`'s floor to `floor` (never below what it uses). A higher floor is
    /// taken only if the budget can hold it; returns whether the floor is now `floor`.
    @discardableResult
    func setFloor(_ id: Int, _ floor: Int) -> Bool {
        let (done, woken) = state.withLock { state -> (Bool, [@Sendable () -> Void]) in
            guard var account = state.accounts[id] else { return (false, []) }
            let before = account.committed
            account.floor = floor
            let growth = account.committed - before
            guard state.committed + growth <= limit else { return (false, []) }
            state.accounts[id] = account
            state.committed += growth
            return (true, growth < 0 ? Self.takeWaiters(&state) : [])
        }
        woken.forEach { $0() }
        return done
    }

    /// Closes account `id`: its floor and everything it used come back. Idempotent.
    func close(_ id: Int) {
        let woken = state.withLock { state -> [@Sendable () -> Void] in
            guard let account = state.accounts.removeValue(forKey: id) else { return [] }
            state.committed -= account.committed
            state.used -= account.used
            return Self.takeWaiters(&state)
        }
        woken.forEach { $0() }
    }

    private static func takeWaiters(_ state: inout State) -> [@Sendable () -> Void] {
        guard !state.waiters.isEmpty else { return [] }
        defer { state.waiters.removeAll(keepingCapacity: true) }
        return Array(state.waiters.values)
    }
}
