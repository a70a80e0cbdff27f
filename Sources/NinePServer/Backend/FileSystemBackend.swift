/// A file or directory a back end has resolved; a fid points at one.
///
/// Nodes are reference types owned by the engine's fid table: a node lives while some fid
/// names it. A back end keeps whatever it needs to reach the file again in its node (an
/// `O_PATH` fd, its parent node and name), never a host path string.
public protocol FileNode: AnyObject, Sendable {
    /// The file's identity as the client sees it; `path` is unique across the export, even
    /// across submounts.
    var qid: Qid { get }
}

/// A file opened by Tlopen or Tlcreate. Closed by ``FileSystemBackend/close(_:)`` on Tclunk.
public protocol OpenFile: AnyObject, Sendable {
    /// The node this file was opened from.
    var node: any FileNode { get }
}

/// What the 9P engine asks of a file system: the 9P2000.L operations, node by node.
///
/// Contract for implementations:
/// - Names come from the client and are untrusted: a back end refuses names containing '/',
///   empty names, and '.'/'..' wherever they would be created; walking '..' at the root of the
///   export stays at the root; nothing outside the export is ever reached (symlinks are not
///   followed on the server).
/// - Every call is `async` and may run concurrently with others. A request starts on the thread
///   that received it (a transport's event loop), so a call that may block must move that work
///   to threads of its own (off the loop and off the cooperative pool), as `LocalBackend` does
///   with its pool; a call that completes at once without blocking may simply return, and its
///   request is then answered without any thread hand-off. A call may check `Task.isCancelled`
///   before it has any effect and throw `CancellationError` (a Tflush cancelled it); once it had
///   an effect it must finish and return, so the engine replies.
/// - Refusals throw ``NinePError``.
public protocol FileSystemBackend: Sendable {
    /// Whether every modifying operation is refused with EROFS.
    var isReadOnly: Bool { get }

    /// Where the engine continues a request's task once it suspends (it starts on the thread
    /// that received it), or nil for the default, the cooperative pool. A back end whose calls
    /// block names its own threads here, so a request moves there once and stays to its reply.
    var preferredTaskExecutor: (any TaskExecutor)? { get }

    /// The root of the export for a Tattach (`aname` and the user are the client's words).
    func attach(aname: String, uname: String, uid: UInt32) async throws -> any FileNode

    /// Walks `names` one at a time from `node`. Returns the nodes reached, in order: as many as
    /// resolved before the first failure (the engine answers a partial walk with those qids).
    /// Throws the first component's error if none resolved. An empty `names` is not passed.
    func walk(from node: any FileNode, names: [String]) async throws -> [any FileNode]

    /// Tgetattr: the attributes `mask` asks for (a back end may return more, flagged in `valid`).
    func getattr(_ node: any FileNode, mask: UInt64) async throws -> Attributes
    /// Tsetattr.
    func setattr(_ node: any FileNode, _ attributes: SetAttributes) async throws
    /// Tstatfs.
    func statfs(_ node: any FileNode) async throws -> FilesystemStatistics
    /// Treadlink.
    func readlink(_ node: any FileNode) async throws -> String

    /// Tlopen with Linux open flags (O_ACCMODE, O_TRUNC, O_APPEND, O_DIRECTORY, ...). Device
    /// nodes, FIFOs and sockets are refused (never opened on the host).
    func open(_ node: any FileNode, flags: UInt32) async throws -> any OpenFile
    /// Tlcreate: creates and opens a regular file `name` in `directory`.
    func create(in directory: any FileNode, name: String, flags: UInt32, mode: UInt32,
                gid: UInt32) async throws -> any OpenFile
    /// Tread: up to `count` bytes at `offset` (fewer at end of file).
    func read(_ file: any OpenFile, offset: UInt64, count: UInt32) async throws -> [UInt8]
    /// Tread straight into a reply: `headroom` bytes of any content (the engine writes the reply
    /// header there) followed by up to `count` bytes at `offset`. The default calls
    /// ``read(_:offset:count:)`` and copies; a back end that reads into memory it allocates
    /// overrides it, so the data is never copied on its way to the client.
    func read(_ file: any OpenFile, offset: UInt64, count: UInt32, headroom: Int) async throws -> [UInt8]
    /// Twrite: returns the number of bytes written.
    func write(_ file: any OpenFile, offset: UInt64, data: [UInt8]) async throws -> UInt32
    /// Treaddir: entries after the cookie `offset` (0 = from the start), at most about `count`
    /// bytes' worth; the engine packs what fits. Each entry's `offset` is the cookie of the next.
    func readdir(_ file: any OpenFile, offset: UInt64, count: UInt32) async throws -> [DirectoryEntry]
    /// Tfsync.
    func fsync(_ file: any OpenFile, dataOnly: Bool) async throws
    /// Tlock: the P9_LOCK_* status.
    func lock(_ file: any OpenFile, _ request: LockRequest) async throws -> UInt8
    /// Tgetlock: the conflicting lock, or the query with type UNLCK when none.
    func getlock(_ file: any OpenFile, _ query: LockQuery) async throws -> LockQuery
    /// Tclunk of an open file. Must not fail.
    func close(_ file: any OpenFile) async

    /// Tmkdir.
    func mkdir(in directory: any FileNode, name: String, mode: UInt32, gid: UInt32) async throws -> Qid
    /// Tsymlink: `target` is stored as given, never resolved on the server.
    func symlink(in directory: any FileNode, name: String, target: String, gid: UInt32) async throws -> Qid
    /// Tmknod.
    func mknod(in directory: any FileNode, name: String, mode: UInt32, major: UInt32, minor: UInt32,
               gid: UInt32) async throws -> Qid
    /// Tlink: a hard link to `node` named `name` in `directory`.
    func link(_ node: any FileNode, in directory: any FileNode, name: String) async throws
    /// Trename: moves `node` to `name` in `directory`.
    func rename(_ node: any FileNode, to directory: any FileNode, name: String) async throws
    /// Trenameat.
    func renameat(from oldDirectory: any FileNode, oldName: String, to newDirectory: any FileNode,
                  newName: String) async throws
    /// Tunlinkat (`flags` may hold AT_REMOVEDIR).
    func unlinkat(in directory: any FileNode, name: String, flags: UInt32) async throws
    /// Tremove: unlinks the file `node` names.
    func remove(_ node: any FileNode) async throws

    /// Txattrwalk: the value of extended attribute `name`, or with an empty name the list of
    /// names (each NUL-terminated), as listxattr gives it.
    func xattrGet(_ node: any FileNode, name: String) async throws -> [UInt8]
    /// The commit of a Txattrcreate at Tclunk: sets (or with `flags` XATTR_REPLACE/CREATE) the
    /// attribute to `value`.
    func xattrSet(_ node: any FileNode, name: String, value: [UInt8], flags: UInt32) async throws
}

extension FileSystemBackend {
    /// No preference: requests run on the cooperative pool.
    public var preferredTaskExecutor: (any TaskExecutor)? { nil }

    /// ``read(_:offset:count:)`` after `headroom` zero bytes (one copy of the data).
    public func read(_ file: any OpenFile, offset: UInt64, count: UInt32, headroom: Int) async throws -> [UInt8] {
        let data = try await read(file, offset: offset, count: count)
        var buffer = [UInt8](repeating: 0, count: headroom)
        buffer.reserveCapacity(headroom + data.count)
        buffer.append(contentsOf: data)
        return buffer
    }
}
