import Foundation
import Testing
@testable import NinePServer
#if canImport(Glibc)
import Glibc
#endif

@Suite("LocalBackend: operations")
struct LocalBackendBasicTests {
    @Test("attach, walk and getattr report type, mode, size and qid")
    func walkAndGetattr() async throws {
        let fixture = try LocalBackendFixture { export in
            try FileManager.default.createDirectory(atPath: export + "/dir", withIntermediateDirectories: false)
            try Data("hello".utf8).write(to: URL(fileURLWithPath: export + "/dir/file"))
        }
        let backend = fixture.backend
        let root = try await fixture.root()
        #expect(root.qid.type == Qid.typeDirectory)
        let nodes = try await backend.walk(from: root, names: ["dir", "file"])
        #expect(nodes.count == 2)
        #expect(nodes[0].qid.type == Qid.typeDirectory)
        #expect(nodes[1].qid.type == Qid.typeFile)
        let attributes = try await backend.getattr(nodes[1], mask: Attributes.maskBasic)
        #expect(attributes.size == 5)
        #expect(attributes.mode & UInt32(S_IFMT) == UInt32(S_IFREG))
        #expect(attributes.qid.path == nodes[1].qid.path)
        #expect(attributes.valid & Attributes.maskBasic == Attributes.maskBasic)
        let st = try fixture.hostStat("dir/file")
        #expect(attributes.qid.path & 0xFFFF_FFFF_FFFF == UInt64(st.st_ino))
        // A partial walk returns what resolved; a first-component failure throws.
        let partial = try await backend.walk(from: root, names: ["dir", "missing", "x"])
        #expect(partial.count == 1)
        #expect(await failure { try await backend.walk(from: root, names: ["missing"]) } == ENOENT)
        // Walking through a file: ENOTDIR.
        #expect(await failure { try await backend.walk(from: nodes[1], names: ["x"]) } == ENOTDIR)
    }

    @Test("create, write, read back, fsync and reopen")
    func createWriteRead() async throws {
        let fixture = try LocalBackendFixture()
        let backend = fixture.backend
        let root = try await fixture.root()
        let file = try await backend.create(in: root, name: "new", flags: 2, mode: 0o640, gid: getegid())
        #expect(file.node.qid.type == Qid.typeFile)
        #expect(try await backend.write(file, offset: 0, data: Array("hello, world".utf8)) == 12)
        #expect(try await backend.write(file, offset: 7, data: Array("there".utf8)) == 5)
        try await backend.fsync(file, dataOnly: false)
        try await backend.fsync(file, dataOnly: true)
        #expect(try await backend.read(file, offset: 0, count: 100) == Array("hello, there".utf8))
        #expect(try await backend.read(file, offset: 7, count: 3) == Array("the".utf8))
        // Read straight after room for a reply header: zeros, then the data, short at the end.
        #expect(try await backend.read(file, offset: 7, count: 100, headroom: 11) == Array(repeating: 0, count: 11) + Array("there".utf8))
        #expect(try await backend.read(file, offset: 50, count: 100, headroom: 11) == Array(repeating: 0, count: 11))
        #expect(try await backend.read(file, offset: 0, count: 0, headroom: 4) == [0, 0, 0, 0])
        #expect(try await backend.read(file, offset: 100, count: 3) == [])
        await backend.close(file)
        #expect(await failure { try await backend.read(file, offset: 0, count: 1) } == EBADF)
        #expect(try fixture.contents("new") == "hello, there")
        // The node from create is usable like a walked one; creating the name again is EEXIST.
        let attributes = try await backend.getattr(file.node, mask: Attributes.maskBasic)
        #expect(attributes.size == 12)
        #expect(await failure { try await backend.create(in: root, name: "new", flags: 2, mode: 0o600, gid: 0) } == EEXIST)
        let node = try await fixture.node("new")
        let reopened = try await backend.open(node, flags: 0)
        #expect(try await backend.read(reopened, offset: 0, count: 5) == Array("hello".utf8))
        #expect(await failure { try await backend.write(reopened, offset: 0, data: [1]) } == EBADF)
        await backend.close(reopened)
        // O_TRUNC through open.
        let truncating = try await backend.open(node, flags: 0o1001)
        await backend.close(truncating)
        #expect(try fixture.contents("new") == "")
    }

    @Test("a cached read up to 128 KiB is done on the calling thread; larger ones go to the pool; same bytes")
    func cachedSmallReadsStayOnTheCallingThread() async throws {
        let fixture = try LocalBackendFixture()
        let text = String(repeating: "0123456789abcdef", count: 300 * 64) // 300 KiB
        try fixture.write("data", text)
        let backend = fixture.backend
        let file = try await backend.open(try await fixture.node("data"), flags: 0)
        let content = Array(text.utf8)
        for count in [64 << 10, 128 << 10, 256 << 10] {
            let executor = backend.pool.executor
            // The fast path is opportunistic (RWF_NOWAIT gives up when the kernel would block, as
            // it may under load), so a small read must stay on the calling thread in at least one
            // of five tries. Where a task resumes after going to the pool is the runtime's choice,
            // so for the large read only the bytes are checked. Every try must be correct.
            var stayed: [Bool] = []
            for _ in 0..<5 {
                let (data, wasOnPool) = await Task.immediate(executorPreference: executor) { () -> ([UInt8]?, Bool) in
                    let data = try? await backend.read(file, offset: 1000, count: UInt32(count), headroom: 11)
                    return (data, executor.isCurrent)
                }.value
                #expect(data == Array(repeating: 0, count: 11) + Array(content[1000..<1000 + count]))
                stayed.append(!wasOnPool)
                if !wasOnPool { break }
            }
            if count <= 128 << 10 { #expect(stayed.last == true, "\(count) bytes stayed on the calling thread in tries \(stayed)") }
        }
        let tail = try await backend.read(file, offset: UInt64(content.count - 10), count: 64 << 10, headroom: 2)
        #expect(tail == [0, 0] + Array(content.suffix(10)), "short at end of file")
        await backend.close(file)
    }

    @Test("a walk the dentry cache answers is done on the calling thread, with the pool's results")
    func cachedWalksStayOnTheCallingThread() async throws {
        let fixture = try LocalBackendFixture()
        try fixture.write("present", "x")
        let backend = fixture.backend
        let root = try await fixture.root()
        _ = try await backend.walk(from: root, names: ["present"]) // now in the dentry cache
        let executor = backend.pool.executor
        // RESOLVE_CACHED is opportunistic (the kernel may decline under load): one of a few
        // tries must be answered on the calling thread.
        var qids: [Qid]? = nil
        var onPool = true
        for _ in 0..<5 where onPool {
            (qids, onPool) = await Task.immediate(executorPreference: executor) { () -> ([Qid]?, Bool) in
                let nodes = try? await backend.walk(from: root, names: ["present"])
                return (nodes?.map(\.qid), executor.isCurrent)
            }.value
        }
        #expect(onPool == false, "answered from the cache on the calling thread")
        let viaPool = try await backend.pool.run { [backend] in
            try backend.step(from: root, name: "present").map(\.qid)
        }
        #expect(qids == viaPool.map { [$0] })
        #expect(await failure { try await backend.walk(from: root, names: ["absent"]) } == ENOENT)
        let partial = try await backend.walk(from: root, names: ["present", "absent"])
        #expect(partial.count == 1, "a partial walk stops at the first failure")
    }

    @Test("mkdir and readdir: '.', '..' and many entries across calls with cookies")
    func readdirCookies() async throws {
        let fixture = try LocalBackendFixture()
        let backend = fixture.backend
        let root = try await fixture.root()
        let qid = try await backend.mkdir(in: root, name: "dir", mode: 0o755, gid: getegid())
        #expect(qid.type == Qid.typeDirectory)
        let dir = try await fixture.node("dir")
        #expect(dir.qid.path == qid.path)
        var expected: Set<String> = [".", ".."]
        for index in 0..<300 {
            let name = "entry-\(index)-" + String(repeating: "x", count: index % 40)
            expected.insert(name)
            let file = try await backend.create(in: dir, name: name, flags: 1, mode: 0o644, gid: getegid())
            await backend.close(file)
        }
        let open = try await backend.open(dir, flags: 0o200000)
        var seen: [String] = []
        var cookie: UInt64 = 0
        var calls = 0
        while true {
            let entries = try await backend.readdir(open, offset: cookie, count: 1024)
            if entries.isEmpty { break }
            calls += 1
            #expect(entries.reduce(0) { $0 + $1.wireSize } <= 1024)
            for entry in entries {
                seen.append(entry.name)
                if entry.name == "." { #expect(entry.qid.path == dir.qid.path) }
                if entry.name == ".." { #expect(entry.qid.path == root.qid.path) }
                if entry.name.hasPrefix("entry-") {
                    #expect(entry.type == 8)
                    #expect(entry.qid.type == Qid.typeFile)
                }
            }
            cookie = try #require(entries.last).offset
        }
        #expect(calls > 5)
        #expect(seen.count == expected.count)
        #expect(Set(seen) == expected)
        // Resuming from a cookie in the middle gives the same tail.
        let all = try await backend.readdir(open, offset: 0, count: 1 << 20)
        #expect(all.count == expected.count)
        let middle = all[100]
        let tail = try await backend.readdir(open, offset: middle.offset, count: 1 << 20)
        #expect(tail.map(\.name) == all[101...].map(\.name))
        await backend.close(open)
        // '..' of the root is the root.
        let rootOpen = try await backend.open(root, flags: 0)
        let rootEntries = try await backend.readdir(rootOpen, offset: 0, count: 4096)
        let dotdot = try #require(rootEntries.first { $0.name == ".." })
        #expect(dotdot.qid.path == root.qid.path)
        await backend.close(rootOpen)
    }

    @Test("rename and renameat; a renamed node keeps working under its new name")
    func renames() async throws {
        let fixture = try LocalBackendFixture { export in
            try Data("a".utf8).write(to: URL(fileURLWithPath: export + "/a"))
            try FileManager.default.createDirectory(atPath: export + "/sub", withIntermediateDirectories: false)
        }
        let backend = fixture.backend
        let root = try await fixture.root()
        let a = try await fixture.node("a")
        let sub = try await fixture.node("sub")
        try await backend.rename(a, to: sub, name: "b")
        #expect(try fixture.contents("sub/b") == "a")
        // The node now lives in sub as b: renaming it again and removing it uses the new place.
        try await backend.rename(a, to: root, name: "c")
        #expect(try fixture.contents("c") == "a")
        try await backend.renameat(from: root, oldName: "c", to: sub, newName: "d")
        #expect(try fixture.contents("sub/d") == "a")
        #expect(await failure { try await backend.renameat(from: root, oldName: "c", to: sub, newName: "e") } == ENOENT)
        #expect(await failure { try await backend.rename(root, to: sub, name: "r") } == EBUSY)
        // A directory into itself.
        #expect(await failure { try await backend.rename(sub, to: sub, name: "x") } == EINVAL)
    }

    @Test("link gives nlink 2; symlink stores the target verbatim; readlink returns it")
    func linkAndSymlink() async throws {
        let fixture = try LocalBackendFixture { export in
            try Data("x".utf8).write(to: URL(fileURLWithPath: export + "/file"))
        }
        let backend = fixture.backend
        let root = try await fixture.root()
        let file = try await fixture.node("file")
        try await backend.link(file, in: root, name: "hard")
        #expect(try await backend.getattr(file, mask: Attributes.maskBasic).nlink == 2)
        #expect(try fixture.hostStat("hard").st_ino == fixture.hostStat("file").st_ino)
        let target = "../../some/where/../odd target"
        let qid = try await backend.symlink(in: root, name: "link", target: target, gid: getegid())
        #expect(qid.type == Qid.typeSymlink)
        let link = try await fixture.node("link")
        #expect(link.qid.type == Qid.typeSymlink)
        #expect(try await backend.readlink(link) == target)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: fixture.export + "/link") == target)
        #expect(await failure { try await backend.readlink(file) } == EINVAL)
        #expect(await failure { try await backend.link(root, in: root, name: "dirlink") } == EPERM)
    }

    @Test("unlinkat of a file and of a directory (AT_REMOVEDIR); remove of a node")
    func unlinkAndRemove() async throws {
        let fixture = try LocalBackendFixture { export in
            try Data("x".utf8).write(to: URL(fileURLWithPath: export + "/file"))
            try Data("y".utf8).write(to: URL(fileURLWithPath: export + "/other"))
            try FileManager.default.createDirectory(atPath: export + "/dir", withIntermediateDirectories: false)
            try FileManager.default.createDirectory(atPath: export + "/dir2", withIntermediateDirectories: false)
        }
        let backend = fixture.backend
        let root = try await fixture.root()
        #expect(await failure { try await backend.unlinkat(in: root, name: "dir", flags: 0) } == EISDIR)
        try await backend.unlinkat(in: root, name: "dir", flags: 0x200)
        try await backend.unlinkat(in: root, name: "file", flags: 0)
        #expect(await failure { try fixture.hostStat("dir") } == ENOENT)
        #expect(await failure { try fixture.hostStat("file") } == ENOENT)
        let other = try await fixture.node("other")
        let dir2 = try await fixture.node("dir2")
        try await backend.remove(other)
        try await backend.remove(dir2)
        #expect(await failure { try fixture.hostStat("other") } == ENOENT)
        #expect(await failure { try fixture.hostStat("dir2") } == ENOENT)
        #expect(await failure { try await backend.remove(root) } == EBUSY)
    }

    @Test("setattr: mode, truncate, times, owner")
    func setattr() async throws {
        let fixture = try LocalBackendFixture { export in
            try Data("0123456789".utf8).write(to: URL(fileURLWithPath: export + "/file"))
        }
        let backend = fixture.backend
        let file = try await fixture.node("file")
        try await backend.setattr(file, SetAttributes(valid: 0x1, mode: 0o604))
        #expect(try fixture.hostStat("file").st_mode & 0o7777 == 0o604)
        try await backend.setattr(file, SetAttributes(valid: 0x8, size: 4))
        #expect(try fixture.contents("file") == "0123")
        try await backend.setattr(file, SetAttributes(valid: 0x10 | 0x20 | 0x80 | 0x100, atimeSeconds: 1_000_000,
                                                      atimeNanoseconds: 5, mtimeSeconds: 2_000_000, mtimeNanoseconds: 7))
        let st = try fixture.hostStat("file")
        #expect(st.st_atim.tv_sec == 1_000_000 && st.st_atim.tv_nsec == 5)
        #expect(st.st_mtim.tv_sec == 2_000_000 && st.st_mtim.tv_nsec == 7)
        let attributes = try await backend.getattr(file, mask: Attributes.maskBasic)
        #expect(attributes.mtimeSeconds == 2_000_000)
        // Owner: allowed when the server is root, EPERM otherwise (returned, not hidden).
        let result = await failure { try await backend.setattr(file, SetAttributes(valid: 0x4, gid: 12345)) }
        if geteuid() == 0 {
            #expect(result == nil)
            #expect(try fixture.hostStat("file").st_gid == 12345)
        } else {
            #expect(result == EPERM)
        }
        let root = try await fixture.root()
        #expect(await failure { try await backend.setattr(root, SetAttributes(valid: 0x8, size: 0)) } == EISDIR)
        #expect(await failure {
            try await backend.setattr(file, SetAttributes(valid: 0x10 | 0x80, atimeNanoseconds: 2_000_000_000))
        } == EINVAL)
    }

    @Test("statfs reports the host file system")
    func statfs() async throws {
        let fixture = try LocalBackendFixture()
        let statistics = try await fixture.backend.statfs(try await fixture.root())
        #expect(statistics.blockSize > 0)
        #expect(statistics.blocks > 0)
        #expect(statistics.nameLength == 255)
        #expect(statistics.type != 0)
    }

    @Test("xattrs: set, get, list, replace, remove; only the user namespace is writable")
    func xattrs() async throws {
        let fixture = try LocalBackendFixture { export in
            try Data("x".utf8).write(to: URL(fileURLWithPath: export + "/file"))
        }
        let backend = fixture.backend
        let file = try await fixture.node("file")
        // /tmp here is ext4, which supports user xattrs; a tmpfs without them would fail
        // this first set with EOPNOTSUPP.
        try await backend.xattrSet(file, name: "user.test", value: Array("value".utf8), flags: 0)
        #expect(try await backend.xattrGet(file, name: "user.test") == Array("value".utf8))
        let list = try await backend.xattrGet(file, name: "")
        let names = list.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        #expect(names.contains("user.test"))
        #expect(await failure { try await backend.xattrSet(file, name: "user.test", value: [1], flags: 1) } == EEXIST)
        #expect(await failure { try await backend.xattrSet(file, name: "user.none", value: [1], flags: 2) } == ENODATA)
        try await backend.xattrSet(file, name: "user.test", value: [], flags: 2)
        #expect(await failure { try await backend.xattrGet(file, name: "user.test") } == ENODATA)
        #expect(await failure { try await backend.xattrSet(file, name: "trusted.x", value: [1], flags: 0) } == EOPNOTSUPP)
        #expect(await failure { try await backend.xattrSet(file, name: "security.capability", value: [1], flags: 0) } == EOPNOTSUPP)
    }

    @Test("locks: a write lock conflicts with another open file's; getlock reports it; unlock frees")
    func locks() async throws {
        let fixture = try LocalBackendFixture { export in
            try Data("0123456789".utf8).write(to: URL(fileURLWithPath: export + "/file"))
        }
        let backend = fixture.backend
        let node = try await fixture.node("file")
        let first = try await backend.open(node, flags: 2)
        let second = try await backend.open(node, flags: 2)
        let write = LockRequest(type: 1, flags: 0, start: 0, length: 5, processID: 1, clientID: "a")
        #expect(try await backend.lock(first, write) == 0)
        // A blocking request is not waited for either.
        var blocking = write
        blocking.flags = 1
        #expect(try await backend.lock(second, blocking) == 1)
        let query = LockQuery(type: 0, start: 0, length: 10, processID: 2, clientID: "b")
        let conflict = try await backend.getlock(second, query)
        #expect(conflict.type == 1)
        #expect(conflict.start == 0)
        #expect(conflict.length == 5)
        // Outside the locked range there is no conflict.
        let free = try await backend.getlock(second, LockQuery(type: 1, start: 5, length: 0, processID: 2, clientID: "b"))
        #expect(free.type == 2)
        #expect(try await backend.lock(first, LockRequest(type: 2, flags: 0, start: 0, length: 0, processID: 1, clientID: "a")) == 0)
        #expect(try await backend.getlock(second, query).type == 2)
        #expect(try await backend.lock(second, write) == 0)
        #expect(await failure {
            try await backend.lock(second, LockRequest(type: 7, flags: 0, start: 0, length: 0, processID: 1, clientID: ""))
        } == EINVAL)
        await backend.close(first)
        await backend.close(second)
    }
}
