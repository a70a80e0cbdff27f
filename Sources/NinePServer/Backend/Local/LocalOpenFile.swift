#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A file a ``LocalBackend`` opened for I/O (Tlopen/Tlcreate): a host descriptor of its own,
/// so each open file is its own open file description (it owns its POSIX OFD locks).
///
/// Tclunk may arrive while a read on the same file is still running; the descriptor is then
/// closed when the last running operation ends, so a descriptor number is never reused
/// under an operation that still holds it.
public final class LocalOpenFile: OpenFile {
    private struct State {
        var fd: Int32
        var running = 0
        var closing = false
    }

    /// A `DIR*` for Treaddir, created on first use from a duplicate of the descriptor.
    struct DirectoryStream {
        var stream: OpaquePointer?
    }

    /// The node this file was opened from.
    public var node: any FileNode { localNode }
    /// The node as the local back end's own type.
    let localNode: LocalNode
    private let state: Mutex<State>
    /// The directory stream; readdir holds this lock for the whole call (seek then read).
    let directory = Mutex(DirectoryStream())

    init(fd: Int32, node: LocalNode) {
        self.localNode = node
        self.state = Mutex(State(fd: fd))
    }

    /// Runs `body` with the descriptor; throws EBADF once the file is closed.
    func withDescriptor<T>(_ body: (Int32) throws -> T) throws -> T {
        let fd: Int32? = state.withLock { state in
            guard !state.closing else { return nil }
            state.running += 1
            return state.fd
        }
        guard let fd else { throw NinePError.badFid }
        defer {
            let last = state.withLock { state in
                state.running -= 1
                return state.closing && state.running == 0
            }
            if last { release() }
        }
        return try body(fd)
    }

    /// Closes the file now, or when the running operations end.
    func close() {
        let now = state.withLock { state in
            guard !state.closing else { return false }
            state.closing = true
            return state.running == 0
        }
        if now { release() }
    }

    private func release() {
        let fd = state.withLock { state in
            let fd = state.fd
            state.fd = -1
            return fd
        }
        Host.close(fd)
        directory.withLock { directory in
            if let stream = directory.stream { closedir(stream) }
            directory.stream = nil
        }
    }

    deinit {
        let open = state.withLock { $0.fd >= 0 }
        if open { release() }
    }
}
