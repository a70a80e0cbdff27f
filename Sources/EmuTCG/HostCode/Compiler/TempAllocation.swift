/// Where one IR temp lives while a host-code block runs: a host register for its whole live
/// range, or its slot in the executor's temp array.
enum TempLocation: Equatable {
    case register(HostRegister)
    case slot(Int)
}

/// A linear-scan assignment of a block's temps to host registers. A temp's live range runs
/// from its first to its last mention in the block (IR blocks are straight-line, so that range
/// covers every definition and use); a temp the block's exit reads lives to the end and is also
/// stored to its slot, where the run loop reads it. Temps that find no free register stay in
/// their slots.
struct TempAllocation {
    /// Registers handed to temps, in order of preference.
    static let allocatable: [HostRegister] = [.rsi, .rdi, .r8, .r9, .r10, .r11, .rbp]
    /// Registers a called routine may change (System V).
    static let callerSaved: Set<HostRegister> = [.rax, .rcx, .rdx, .rsi, .rdi, .r8, .r9, .r10, .r11]

    /// Location per temp number.
    private(set) var locations: [TempLocation]
    /// First and last op index per temp (-1 when never mentioned).
    private(set) var first: [Int]
    private(set) var last: [Int]

    /// Allocates for `ops`; `exitTemps` are read after the last op.
    init(ops: [IROp], tempCount: Int, exitTemps: [IRTemp]) {
        first = Array(repeating: -1, count: tempCount)
        last = Array(repeating: -1, count: tempCount)
        locations = (0..<tempCount).map { .slot($0) }
        for (i, op) in ops.enumerated() {
            for t in op.mentionedTemps {
                let n = Int(t.index)
                guard n >= 0, n < tempCount else { continue }
                if first[n] < 0 { first[n] = i }
                last[n] = i
            }
        }
        for t in exitTemps {
            let n = Int(t.index)
            guard n >= 0, n < tempCount else { continue }
            if first[n] < 0 { first[n] = ops.count }
            last[n] = ops.count
        }
        // Temps in order of their first mention; free registers whose temps ended earlier.
        let order = (0..<tempCount).filter { first[$0] >= 0 }.sorted { first[$0] < first[$1] }
        var free = Self.allocatable
        var active: [(end: Int, register: HostRegister)] = []
        for n in order {
            let start = first[n]
            active.removeAll { entry in
                if entry.end < start { free.append(entry.register); return true }
                return false
            }
            guard !free.isEmpty else { continue }
            let r = free.removeFirst()
            locations[n] = .register(r)
            active.append((last[n], r))
        }
    }

    /// The location of temp `t`.
    func location(_ t: IRTemp) -> TempLocation {
        let n = Int(t.index)
        return n >= 0 && n < locations.count ? locations[n] : .slot(n)
    }

    /// Temps held in caller-saved registers whose value must survive a call made at op `index`
    /// (live before it and after it; `excluding` is the op's own result).
    func savedAcrossCall(at index: Int, excluding: IRTemp?) -> [(Int, HostRegister)] {
        var list: [(Int, HostRegister)] = []
        for (n, location) in locations.enumerated() {
            guard case .register(let r) = location, Self.callerSaved.contains(r) else { continue }
            if let excluding, Int(excluding.index) == n { continue }
            if first[n] <= index && last[n] >= index { list.append((n, r)) }
        }
        return list
    }
}

extension IROp {
    /// Every temp the op reads or writes.
    var mentionedTemps: [IRTemp] {
        switch self {
        case .constant(let d, _), .get(let d, _), .getZeroExtended(let d, _, _), .flags(let d), .condition(let d, _):
            return [d]
        case .put(_, let v), .putZeroExtended32(_, let v):
            return [v]
        case .load(let d, let a, _, _):
            return [d, a]
        case .store(let a, let v, _, _):
            return [a, v]
        case .checkAlignment(let a, _, _):
            return [a]
        case .binary(_, let d, let a, let b):
            return [d, a, b]
        case .binaryImmediate(_, let d, let a, _), .unary(_, let d, let a):
            return [d, a]
        case .select(let d, let c, let a, let b):
            return [d, c, a, b]
        case .setFlags(_, _, let dst, let src, let src2):
            return [dst, src, src2]
        case .setFlagsIf(let when, _, _, let dst, let src, let src2):
            return [when, dst, src, src2]
        case .helper(_, let args, let result, _):
            return args + (result.map { [$0] } ?? [])
        }
    }
}
