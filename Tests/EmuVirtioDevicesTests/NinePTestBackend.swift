import NinePServer
import Synchronization

/// A one-directory file system whose Tgetattr waits until the test lets it go, honouring
/// cancellation (a Tflush). Every other operation is refused with EOPNOTSUPP.
final class HeldGetattrBackend: FileSystemBackend {
    final class Node: FileNode {
        let qid = Qid(type: 0x80, version: 0, path: 1)
    }

    private let root = Node()
    private struct Waits {
        var next = 0
        var held: [Int: CheckedContinuation<Void, any Error>] = [:]
        var released = false
    }
    private let waits = Mutex(Waits())
    let isReadOnly = true

    /// How many getattr calls are waiting.
    var waiting: Int { waits.withLock { $0.held.count } }

    /// Lets every waiting (and future) getattr finish.
    func release() {
        let held = waits.withLock { w in
            w.released = true
            defer { w.held.removeAll() }
            return Array(w.held.values)
        }
        held.forEach { $0.resume() }
    }

    func attach(aname: String, uname: String, uid: UInt32) async throws -> any FileNode { root }

    func getattr(_ node: any FileNode, mask: UInt64) async throws -> Attributes {
        let id = waits.withLock { w -> Int? in
            guard !w.released else { return nil }
            w.next += 1
            return w.next
        }
        if let id {
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                    let now = waits.withLock { w -> Bool in
                        if w.released || Task.isCancelled { return true }
                        w.held[id] = c
                        return false
                    }
                    if now { c.resume() }
                }
            } onCancel: {
                waits.withLock { $0.held.removeValue(forKey: id) }?.resume(throwing: CancellationError())
            }
            try Task.checkCancellation()
        }
        return Attributes(valid: 0x7FF, qid: node.qid, mode: 0o40755, nlink: 2)
    }

    func walk(from node: any FileNode, names: [String]) async throws -> [any FileNode] { throw NinePError.notSupported }
    func setattr(_ node: any FileNode, _ attributes: SetAttributes) async throws { throw NinePError.notSupported }
    func statfs(_ node: any FileNode) async throws -> FilesystemStatistics { throw NinePError.notSupported }
    func readlink(_ node: any FileNode) async throws -> String { throw NinePError.notSupported }
    func open(_ node: any FileNode, flags: UInt32) async throws -> any OpenFile { throw NinePError.notSupported }
    func create(in directory: any FileNode, name: String, flags: UInt32, mode: UInt32, gid: UInt32) async throws -> any OpenFile {
        throw NinePError.notSupported
    }
    func read(_ file: any OpenFile, offset: UInt64, count: UInt32) async throws -> [UInt8] { throw NinePError.notSupported }
    func write(_ file: any OpenFile, offset: UInt64, data: [UInt8]) async throws -> UInt32 { throw NinePError.notSupported }
    func readdir(_ file: any OpenFile, offset: UInt64, count: UInt32) async throws -> [DirectoryEntry] { throw NinePError.notSupported }
    func fsync(_ file: any OpenFile, dataOnly: Bool) async throws { throw NinePError.notSupported }
    func lock(_ file: any OpenFile, _ request: LockRequest) async throws -> UInt8 { throw NinePError.notSupported }
    func getlock(_ file: any OpenFile, _ query: LockQuery) async throws -> LockQuery { throw NinePError.notSupported }
    func close(_ file: any OpenFile) async {}
    func mkdir(in directory: any FileNode, name: String, mode: UInt32, gid: UInt32) async throws -> Qid { throw NinePError.notSupported }
    func symlink(in directory: any FileNode, name: String, target: String, gid: UInt32) async throws -> Qid { throw NinePError.notSupported }
    func mknod(in directory: any FileNode, name: String, mode: UInt32, major: UInt32, minor: UInt32, gid: UInt32) async throws -> Qid {
        throw NinePError.notSupported
    }
    func link(_ node: any FileNode, in directory: any FileNode, name: String) async throws { throw NinePError.notSupported }
    func rename(_ node: any FileNode, to directory: any FileNode, name: String) async throws { throw NinePError.notSupported }
    func renameat(from oldDirectory: any FileNode, oldName: String, to newDirectory: any FileNode, newName: String) async throws {
        throw NinePError.notSupported
    }
    func unlinkat(in directory: any FileNode, name: String, flags: UInt32) async throws { throw NinePError.notSupported }
    func remove(_ node: any FileNode) async throws { throw NinePError.notSupported }
    func xattrGet(_ node: any FileNode, name: String) async throws -> [UInt8] { throw NinePError.notSupported }
    func xattrSet(_ node: any FileNode, name: String, value: [UInt8], flags: UInt32) async throws { throw NinePError.notSupported }
}
