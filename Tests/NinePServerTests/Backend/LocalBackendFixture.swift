import Foundation
import Testing
@testable import NinePServer
#if canImport(Glibc)
import Glibc
#endif

/// A temporary directory (mkdtemp) holding `export/` (what the back end serves) and
/// `outside/secret` (what it must never reach); removed on deinit.
final class LocalBackendFixture {
    let base: String
    let export: String
    let outside: String
    let backend: LocalBackend

    init(readOnly: Bool = false, prepare: (String) throws -> Void = { _ in }) throws {
        var template = Array("/tmp/ninefs-test-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer in buffer.baseAddress.flatMap { mkdtemp($0) } }
        guard made != nil else { throw NinePError.current() }
        base = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        export = base + "/export"
        outside = base + "/outside"
        try FileManager.default.createDirectory(atPath: export, withIntermediateDirectories: false)
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: false)
        try Data("secret".utf8).write(to: URL(fileURLWithPath: outside + "/secret"))
        try prepare(export)
        backend = try LocalBackend(exportPath: export, readOnly: readOnly)
    }

    deinit { try? FileManager.default.removeItem(atPath: base) }

    func root() async throws -> LocalNode {
        try #require(try await backend.attach(aname: "", uname: "test", uid: 0) as? LocalNode)
    }

    /// Walks a slash-separated path from the root; every component must resolve.
    func node(_ path: String) async throws -> any FileNode {
        let names = path.split(separator: "/").map(String.init)
        let root = try await root()
        if names.isEmpty { return root }
        let nodes = try await backend.walk(from: root, names: names)
        #expect(nodes.count == names.count)
        return try #require(nodes.last)
    }

    func write(_ relative: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: export + "/" + relative))
    }

    func contents(_ relative: String) throws -> String {
        String(decoding: try Data(contentsOf: URL(fileURLWithPath: export + "/" + relative)), as: UTF8.self)
    }

    func hostStat(_ relative: String) throws -> stat {
        var st = stat()
        guard lstat(export + "/" + relative, &st) == 0 else { throw NinePError.current() }
        return st
    }
}

/// The errno a call failed with (nil if it succeeded, -1 for a non-NinePError).
func failure<T>(_ body: () async throws -> T) async -> Int32? {
    do {
        _ = try await body()
        return nil
    } catch let error as NinePError {
        return error.errno
    } catch {
        return -1
    }
}
