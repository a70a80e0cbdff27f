/// A thread's alternate signal stack (sigaltstack), kept as Linux keeps it: the base, the size
/// and the flags exactly as the guest last set them. A handler whose action has SA_ONSTACK gets
/// its frame at the top of this stack unless the thread already runs on it.
///
/// "Running on it" is Linux's test: the stack pointer lies in (base, base + size], and never
/// while SS_AUTODISARM is set (such a stack is disarmed as a handler enters it).
struct AlternateSignalStack: Equatable {
    static let SS_ONSTACK: UInt32 = 1
    static let SS_DISABLE: UInt32 = 2
    static let SS_AUTODISARM: UInt32 = 0x8000_0000
    /// MINSIGSTKSZ: the smallest size sigaltstack accepts.
    static let minimumSize: UInt64 = 2048
    /// sizeof(stack_t) on x86-64: ss_sp, ss_flags (int, then 4 bytes of padding), ss_size.
    static let guestSize = 24

    /// ss_sp: the lowest address of the stack.
    var base: UInt64 = 0
    /// ss_size: 0 when no stack is set.
    var size: UInt64 = 0
    /// ss_flags as last set (SS_DISABLE after a reset, SS_AUTODISARM kept).
    var flags: UInt32 = 0

    /// What a thread created with CLONE_VM (and not CLONE_VFORK) starts with, and what
    /// SS_AUTODISARM leaves once a handler entered the stack.
    static let disabled = AlternateSignalStack(base: 0, size: 0, flags: SS_DISABLE)

    /// Whether `sp` lies in (base, base + size] (the stack grows down from base + size).
    func contains(_ sp: UInt64) -> Bool {
        size != 0 && sp > base && sp &- base <= size
    }

    /// Whether a thread with stack pointer `sp` runs on this stack (never with SS_AUTODISARM).
    func isRunningOn(_ sp: UInt64) -> Bool {
        flags & Self.SS_AUTODISARM == 0 && contains(sp)
    }

    /// Whether a handler with SA_ONSTACK, interrupting at `sp`, switches to this stack.
    func switchesTo(from sp: UInt64) -> Bool {
        size != 0 && !isRunningOn(sp)
    }

    /// The ss_flags sigaltstack reports: SS_DISABLE when none is set, else SS_ONSTACK when `sp`
    /// runs on it; SS_AUTODISARM added when set.
    func reportedFlags(sp: UInt64) -> UInt32 {
        (size == 0 ? Self.SS_DISABLE : isRunningOn(sp) ? Self.SS_ONSTACK : 0) | (flags & Self.SS_AUTODISARM)
    }

    /// Replaces the stack with `new` for a thread at `sp`, as sigaltstack and rt_sigreturn do:
    /// -EPERM while running on the current one, -EINVAL for flags other than 0, SS_ONSTACK or
    /// SS_DISABLE (each with SS_AUTODISARM allowed), -ENOMEM for a size below MINSIGSTKSZ (not
    /// checked when disabling, which forgets base and size). Returns 0 or the negative errno;
    /// nothing changes on an error.
    mutating func change(to new: AlternateSignalStack, sp: UInt64) -> Int64 {
        if isRunningOn(sp) { return -LinuxErrno.EPERM }
        let mode = new.flags & ~Self.SS_AUTODISARM
        guard mode == 0 || mode == Self.SS_ONSTACK || mode == Self.SS_DISABLE else { return -LinuxErrno.EINVAL }
        if new == self { return 0 }
        if mode == Self.SS_DISABLE {
            self = AlternateSignalStack(base: 0, size: 0, flags: new.flags)
        } else {
            guard new.size >= Self.minimumSize else { return -LinuxErrno.ENOMEM }
            self = new
        }
        return 0
    }

    /// The guest's stack_t bytes: `flags` is what the caller wants in ss_flags.
    func guestBytes(flags reported: UInt32) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.guestSize)
        for i in 0..<8 {
            out[i] = UInt8(truncatingIfNeeded: base >> (8 * UInt64(i)))
            out[16 + i] = UInt8(truncatingIfNeeded: size >> (8 * UInt64(i)))
        }
        for i in 0..<4 { out[8 + i] = UInt8(truncatingIfNeeded: reported >> (8 * UInt32(i))) }
        return out
    }

    /// Reads a guest stack_t (missing bytes read as zero).
    init(guestBytes bytes: [UInt8]) {
        let raw = bytes + [UInt8](repeating: 0, count: max(0, Self.guestSize - bytes.count))
        func field(_ offset: Int, _ count: Int) -> UInt64 {
            (0..<count).reduce(0) { $0 | UInt64(raw[offset + $1]) << (8 * UInt64($1)) }
        }
        self.init(base: field(0, 8), size: field(16, 8), flags: UInt32(truncatingIfNeeded: field(8, 4)))
    }

    init(base: UInt64 = 0, size: UInt64 = 0, flags: UInt32 = 0) {
        self.base = base
        self.size = size
        self.flags = flags
    }
}
