import Synchronization
@testable import NinePServer
#if canImport(Glibc)
import Glibc
#endif

/// A gate a back-end operation waits at until the test opens it.
final class Gate: Sendable {
    private struct State {
        var open = false
        var waiting: [UInt64: CheckedContinuation<Void, any Error>] = [:]
        var next: UInt64 = 0
        var arrivals = 0
    }
    private let state = Mutex(State())
    /// Whether a Tflush's cancellation ends the wait (false: the operation completes anyway).
    let honoursCancellation: Bool

    init(honoursCancellation: Bool) { self.honoursCancellation = honoursCancellation }

    /// How many operations reached the gate.
    var arrivals: Int { state.withLock { $0.arrivals } }

    func wait() async throws {
        let id = state.withLock { state -> UInt64? in
            state.arrivals += 1
            guard !state.open else { return nil }
            defer { state.next += 1 }
            return state.next
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.open { return true }
                    state.waiting[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            guard honoursCancellation else { return }
            let continuation = state.withLock { $0.waiting.removeValue(forKey: id) }
            continuation?.resume(throwing: CancellationError())
        }
    }

    func open() {
        let waiting = state.withLock { state in
            state.open = true
            defer { state.waiting.removeAll() }
            return Array(state.waiting.values)
        }
        waiting.forEach { $0.resume() }
    }
}

/// An in-memory file system for engine tests: a root directory of regular files; operations
/// on a file with a gate wait at it first. Records the order of effects.
final class GatedBackend: FileSystemBackend {
    final class Node: FileNode {
        let qid: Qid
        let name: String
        let isDirectory: Bool
        let content: Mutex<[UInt8]>
        init(path: UInt64, name: String, isDirectory: Bool, content: [UInt8] = []) {
            self.qid = Qid(type: isDirectory ? 0x80 : 0, version: 0, path: path)
            self.name = name
            self.isDirectory = isDirectory
            self.content = Mutex(content)
        }
    }

    final class File: OpenFile {
        let node: any FileNode
        init(node: any FileNode) { self.node = node }
    }

    let root = Node(path: 1, name: "/", isDirectory: true)
    private let files = Mutex<[String: Node]>([:])
    private let gates = Mutex<[String: Gate]>([:])
    private let nextPath = Atomic<UInt64>(100)
    let log = Mutex<[String]>([])
    let openFiles = Atomic<Int>(0)
    let isReadOnly = false

    init(files names: [String]) {
        for name in names { addFile(name, content: Array(name.utf8)) }
    }

    func addFile(_ name: String, content: [UInt8]) {
        let path = nextPath.add(1, ordering: .relaxed).newValue
        files.withLock { $0[name] = Node(path: path, name: name, isDirectory: false, content: content) }
    }

    /// Makes the next operations on `name` (walk to it, read, create of it) wait at a new gate.
    func gate(_ name: String, honoursCancellation: Bool) -> Gate {
        let gate = Gate(honoursCancellation: honoursCancellation)
        gates.withLock { $0[name] = gate }
        return gate
    }

    private func pass(_ name: String) async throws {
        if let gate = gates.withLock({ $0[name] }) { try await gate.wait() }
    }

    private func record(_ entry: String) { log.withLock { $0.append(entry) } }

    func attach(aname: String, uname: String, uid: UInt32) async throws -> any FileNode {
        try await pass("attach:" + aname)
        return root
    }

    func walk(from node: any FileNode, names: [String]) async throws -> [any FileNode] {
        var reached: [any FileNode] = []
        for name in names {
            try await pass(name)
            guard let file = files.withLock({ $0[name] }) else {
                if reached.isEmpty { throw NinePError.notFound }
                break
            }
            reached.append(file)
        }
        return reached
    }

    func getattr(_ node: any FileNode, mask: UInt64) async throws -> Attributes {
        var attributes = Attributes(valid: Attributes.maskBasic, qid: node.qid, mode: 0o100644, nlink: 1)
        attributes.size = UInt64((node as? Node)?.content.withLock { $0.count } ?? 0)
        return attributes
    }

    func open(_ node: any FileNode, flags: UInt32) async throws -> any OpenFile {
        openFiles.add(1, ordering: .relaxed)
        return File(node: node)
    }

    func create(in directory: any FileNode, name: String, flags: UInt32, mode: UInt32,
                gid: UInt32) async throws -> any OpenFile
    {
        try await pass(name)
        addFile(name, content: [])
        guard let node = files.withLock({ $0[name] }) else { throw NinePError.io }
        record("created \(name)")
        openFiles.add(1, ordering: .relaxed)
        return File(node: node)
    }

    func read(_ file: any OpenFile, offset: UInt64, count: UInt32) async throws -> [UInt8] {
        guard let node = file.node as? Node else { throw NinePError.io }
        try await pass(node.name)
        record("read \(node.name)")
        let content = node.content.withLock { $0 }
        guard offset < UInt64(content.count) else { return [] }
        return Array(content[Int(offset)..<min(content.count, Int(offset) + Int(count))])
    }

    func write(_ file: any OpenFile, offset: UInt64, data: [UInt8]) async throws -> UInt32 {
        guard let node = file.node as? Node else { throw NinePError.io }
        try await pass(node.name)
        node.content.withLock { $0 = data }
        return UInt32(data.count)
    }

    func close(_ file: any OpenFile) async {
        record("closed \((file.node as? Node)?.name ?? "?")")
        openFiles.subtract(1, ordering: .relaxed)
    }

    func readdir(_ file: any OpenFile, offset: UInt64, count: UInt32) async throws -> [DirectoryEntry] { [] }
    func setattr(_ node: any FileNode, _ attributes: SetAttributes) async throws {}
    func statfs(_ node: any FileNode) async throws -> FilesystemStatistics { throw NinePError.notSupported }
    func readlink(_ node: any FileNode) async throws -> String { throw NinePError.invalid }
    func fsync(_ file: any OpenFile, dataOnly: Bool) async throws {}
    func lock(_ file: any OpenFile, _ request: LockRequest) async throws -> UInt8 { 0 }
    func getlock(_ file: any OpenFile, _ query: LockQuery) async throws -> LockQuery { query }
    func mkdir(in directory: any FileNode, name: String, mode: UInt32, gid: UInt32) async throws -> Qid {
        throw NinePError.notSupported
    }
    func symlink(in directory: any FileNode, name: String, target: String, gid: UInt32) async throws -> Qid {
        throw NinePError.notSupported
    }
    func mknod(in directory: any FileNode, name: String, mode: UInt32, major: UInt32, minor: UInt32,
               gid: UInt32) async throws -> Qid { throw NinePError.notSupported }
    func link(_ node: any FileNode, in directory: any FileNode, name: String) async throws {}
    func rename(_ node: any FileNode, to directory: any FileNode, name: String) async throws {}
    func renameat(from oldDirectory: any FileNode, oldName: String, to newDirectory: any FileNode,
                  newName: String) async throws {}
    func unlinkat(in directory: any FileNode, name: String, flags: UInt32) async throws {}
    func remove(_ node: any FileNode) async throws {}
    func xattrGet(_ node: any FileNode, name: String) async throws -> [UInt8] { Array("value".utf8) }
    func xattrSet(_ node: any FileNode, name: String, value: [UInt8], flags: UInt32) async throws {
        record("xattr \(name)=\(String(decoding: value, as: UTF8.self))")
    }
}

