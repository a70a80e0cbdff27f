import Foundation
import Testing
@testable import NinePServer
#if canImport(Glibc)
import Glibc
#endif

/// A hostile client must not reach anything outside the export (CVE-2016-7116 '..' escape,
/// CVE-2016-9602 symlink following, CVE-2023-2861 opening special files).
@Suite("LocalBackend: confinement")
struct LocalBackendConfinementTests {
    @Test("symlinks to /etc and to ../../.. are nodes: not walked through, not opened, readlink gives the text")
    func symlinksAreNotFollowed() async throws {
        let fixture = try LocalBackendFixture { export in
            try FileManager.default.createSymbolicLink(atPath: export + "/abs", withDestinationPath: "/etc")
            try FileManager.default.createSymbolicLink(atPath: export + "/rel", withDestinationPath: "../../..")
            try FileManager.default.createSymbolicLink(atPath: export + "/secret", withDestinationPath: "../outside/secret")
        }
        let backend = fixture.backend
        let root = try await fixture.root()
        for (name, target) in [("abs", "/etc"), ("rel", "../../.."), ("secret", "../outside/secret")] {
            let nodes = try await backend.walk(from: root, names: [name])
            let link = try #require(nodes.first)
            #expect(link.qid.type == Qid.typeSymlink)
            #expect(try await backend.readlink(link) == target)
            // Walking through the link stops at the link.
            let through = try await backend.walk(from: root, names: [name, "passwd"])
            #expect(through.count == 1)
            #expect(await failure { try await backend.walk(from: link, names: ["passwd"]) } == ENOTDIR)
            #expect(await failure { try await backend.open(link, flags: 0) } == ELOOP)
            #expect(await failure { try await backend.xattrGet(link, name: "") } == EOPNOTSUPP)
            // getattr describes the link itself, not its target.
            let attributes = try await backend.getattr(link, mask: Attributes.maskBasic)
            #expect(attributes.mode & UInt32(S_IFMT) == UInt32(S_IFLNK))
            #expect(await failure { try await backend.setattr(link, SetAttributes(valid: 0x1, mode: 0o777)) } == EOPNOTSUPP)
        }
        // Truncating through the link does not touch the outside file.
        let secretLink = try await fixture.node("secret")
        #expect(await failure { try await backend.setattr(secretLink, SetAttributes(valid: 0x8, size: 0)) } == EINVAL)
        #expect(String(decoding: try Data(contentsOf: URL(fileURLWithPath: fixture.outside + "/secret")), as: UTF8.self) == "secret")
        // Creating over the link's name never opens its target.
        #expect(await failure { try await backend.create(in: root, name: "secret", flags: 2, mode: 0o600, gid: 0) } == EEXIST)
    }

    @Test("'..' chains from the root stay at the root; 'etc' is not found above it")
    func dotDotStaysInside() async throws {
        let fixture = try LocalBackendFixture { export in
            try FileManager.default.createDirectory(atPath: export + "/a", withIntermediateDirectories: false)
        }
        let backend = fixture.backend
        let root = try await fixture.root()
        let up = try await backend.walk(from: root, names: ["..", "..", ".."])
        #expect(up.count == 3)
        #expect(up.allSatisfy { $0.qid.path == root.qid.path })
        let etc = try await backend.walk(from: root, names: ["..", "..", "..", "etc"])
        #expect(etc.count == 3)
        #expect(await failure { try await backend.walk(from: root, names: ["etc"]) } == ENOENT)
        let outside = try await backend.walk(from: root, names: ["a", "..", "..", "outside", "secret"])
        #expect(outside.count == 3)
        #expect(outside.last?.qid.path == root.qid.path)
        // '.' is the same node.
        let dot = try await backend.walk(from: root, names: [".", "a", "."])
        #expect(dot[2].qid.path == dot[1].qid.path)
    }

    @Test("names with '/', NUL or empty are refused with EINVAL; '.' and '..' are never created")
    func badNames() async throws {
        let fixture = try LocalBackendFixture { export in
            try FileManager.default.createDirectory(atPath: export + "/a", withIntermediateDirectories: false)
            try Data("x".utf8).write(to: URL(fileURLWithPath: export + "/a/f"))
        }
        let backend = fixture.backend
        let root = try await fixture.root()
        let file = try await fixture.node("a/f")
        for name in ["a/f", "/etc", "../outside", "", "a\0b", "/"] {
            #expect(await failure { try await backend.walk(from: root, names: [name]) } == EINVAL)
            #expect(await failure { try await backend.create(in: root, name: name, flags: 1, mode: 0o644, gid: 0) } == EINVAL)
        }
        for name in [".", "..", "x/y", ""] {
            #expect(await failure { try await backend.mkdir(in: root, name: name, mode: 0o755, gid: 0) } == EINVAL)
            #expect(await failure { try await backend.create(in: root, name: name, flags: 1, mode: 0o644, gid: 0) } == EINVAL)
            #expect(await failure { try await backend.symlink(in: root, name: name, target: "t", gid: 0) } == EINVAL)
            #expect(await failure { try await backend.mknod(in: root, name: name, mode: 0o10644, major: 0, minor: 0, gid: 0) } == EINVAL)
            #expect(await failure { try await backend.link(file, in: root, name: name) } == EINVAL)
            #expect(await failure { try await backend.rename(file, to: root, name: name) } == EINVAL)
            #expect(await failure { try await backend.renameat(from: root, oldName: "a", to: root, newName: name) } == EINVAL)
            #expect(await failure { try await backend.renameat(from: root, oldName: name, to: root, newName: "b") } == EINVAL)
            #expect(await failure { try await backend.unlinkat(in: root, name: name, flags: 0x200) } == EINVAL)
        }
        #expect(await failure { try await backend.symlink(in: root, name: "s", target: "", gid: 0) } == EINVAL)
        #expect(FileManager.default.fileExists(atPath: fixture.export + "/a/f"))
    }

    @Test("FIFO, socket and device: getattr works, open is refused without hanging; mknod of devices refused")
    func specialFiles() async throws {
        let fixture = try LocalBackendFixture { export in
            guard mkfifo(export + "/fifo", 0o666) == 0 else { throw NinePError.current() }
            guard mknod(export + "/socket", S_IFSOCK | 0o666, 0) == 0 else { throw NinePError.current() }
        }
        let backend = fixture.backend
        let root = try await fixture.root()
        var names = ["fifo", "socket"]
        // A character device (/dev/null's numbers) can be made only by root; the host may.
        if mknod(fixture.export + "/null", S_IFCHR | 0o666, dev_t(0x103)) == 0 { names.append("null") }
        for name in names {
            let node = try await fixture.node(name)
            let attributes = try await backend.getattr(node, mask: Attributes.maskBasic)
            #expect(attributes.mode & UInt32(S_IFMT) != UInt32(S_IFREG))
            // Opening a FIFO on the host would block with no writer: the refusal comes first.
            for flags: UInt32 in [0, 1, 2, 0o1000] {
                #expect(await failure { try await backend.open(node, flags: flags) } == ENXIO)
            }
            #expect(await failure { try await backend.setattr(node, SetAttributes(valid: 0x8, size: 0)) } == EINVAL)
            #expect(await failure { try await backend.xattrGet(node, name: "") } == EOPNOTSUPP)
            // chmod does not open the file and is allowed.
            try await backend.setattr(node, SetAttributes(valid: 0x1, mode: 0o600))
        }
        #expect(await failure { try await backend.mknod(in: root, name: "c", mode: UInt32(S_IFCHR | 0o666), major: 1, minor: 3, gid: 0) } == EPERM)
        #expect(await failure { try await backend.mknod(in: root, name: "b", mode: UInt32(S_IFBLK | 0o666), major: 8, minor: 0, gid: 0) } == EPERM)
        #expect(await failure { try await backend.mknod(in: root, name: "d", mode: UInt32(S_IFDIR | 0o755), major: 0, minor: 0, gid: 0) } == EINVAL)
        #expect(await failure { try fixture.hostStat("c") } == ENOENT)
        #expect(await failure { try fixture.hostStat("b") } == ENOENT)
        // FIFOs and sockets may be made (never opened).
        let fifo = try await backend.mknod(in: root, name: "fifo2", mode: UInt32(S_IFIFO | 0o644), major: 0, minor: 0, gid: 0)
        #expect(fifo.type == Qid.typeFile)
        #expect(try fixture.hostStat("fifo2").st_mode & S_IFMT == S_IFIFO)
        let fifoNode = try await fixture.node("fifo2")
        #expect(await failure { try await backend.open(fifoNode, flags: 0) } == ENXIO)
    }

    @Test("a name swapped for a FIFO or a symlink after the walk is not opened: the node keeps its inode")
    func swappedNameIsNotOpened() async throws {
        let fixture = try LocalBackendFixture { export in
            try Data("inside".utf8).write(to: URL(fileURLWithPath: export + "/file"))
        }
        let backend = fixture.backend
        let node = try await fixture.node("file")
        // The host (or a racing client) replaces the name with a symlink to the outside.
        try FileManager.default.moveItem(atPath: fixture.export + "/file", toPath: fixture.export + "/moved")
        try FileManager.default.createSymbolicLink(atPath: fixture.export + "/file", withDestinationPath: fixture.outside + "/secret")
        let open = try await backend.open(node, flags: 2)
        #expect(try await backend.read(open, offset: 0, count: 100) == Array("inside".utf8))
        _ = try await backend.write(open, offset: 0, data: Array("INSIDE".utf8))
        await backend.close(open)
        try await backend.setattr(node, SetAttributes(valid: 0x1 | 0x8, mode: 0o600, size: 2))
        #expect(try fixture.contents("moved") == "IN")
        #expect(String(decoding: try Data(contentsOf: URL(fileURLWithPath: fixture.outside + "/secret")), as: UTF8.self) == "secret")
        var st = stat()
        #expect(stat(fixture.outside + "/secret", &st) == 0 && st.st_size == 6)
        // Tremove of the stale node does not remove whatever now has its name.
        #expect(await failure { try await backend.remove(node) } == ENOENT)
        #expect(FileManager.default.fileExists(atPath: fixture.export + "/file"))
    }

    @Test("a directory the host moves out of the export still leads back only to the export root")
    func hostRenameUnderneathNode() async throws {
        let fixture = try LocalBackendFixture { export in
            try FileManager.default.createDirectory(atPath: export + "/a/b", withIntermediateDirectories: true)
        }
        let backend = fixture.backend
        let root = try await fixture.root()
        let b = try await fixture.node("a/b")
        try FileManager.default.moveItem(atPath: fixture.export + "/a/b", toPath: fixture.outside + "/b")
        // '..' is never looked up on the host: the chain ends at the export root.
        let up = try await backend.walk(from: b, names: ["..", "..", "..", ".."])
        #expect(up.count == 4)
        #expect(up[1].qid.path == root.qid.path)
        #expect(up[3].qid.path == root.qid.path)
        // The host's new parent of b (outside/, holding 'secret') is not reachable by name.
        let attempt = try await backend.walk(from: b, names: ["..", "secret"])
        #expect(attempt.count == 1)
        #expect(await failure { try await backend.walk(from: root, names: ["secret"]) } == ENOENT)
    }

    @Test("read-only export refuses every modifying operation with EROFS")
    func readOnly() async throws {
        let fixture = try LocalBackendFixture(readOnly: true) { export in
            try Data("x".utf8).write(to: URL(fileURLWithPath: export + "/file"))
            try FileManager.default.createDirectory(atPath: export + "/dir", withIntermediateDirectories: false)
        }
        let backend = fixture.backend
        #expect(backend.isReadOnly)
        let root = try await fixture.root()
        let file = try await fixture.node("file")
        let erofs: [Int32?] = [
            await failure { try await backend.open(file, flags: 1) },
            await failure { try await backend.open(file, flags: 2) },
            await failure { try await backend.open(file, flags: 0o1000) },
            await failure { try await backend.create(in: root, name: "n", flags: 1, mode: 0o644, gid: 0) },
            await failure { try await backend.setattr(file, SetAttributes(valid: 0x1, mode: 0o600)) },
            await failure { try await backend.setattr(file, SetAttributes(valid: 0x8, size: 0)) },
            await failure { try await backend.mkdir(in: root, name: "d", mode: 0o755, gid: 0) },
            await failure { try await backend.symlink(in: root, name: "s", target: "t", gid: 0) },
            await failure { try await backend.mknod(in: root, name: "m", mode: 0o10644, major: 0, minor: 0, gid: 0) },
            await failure { try await backend.link(file, in: root, name: "l") },
            await failure { try await backend.rename(file, to: root, name: "r") },
            await failure { try await backend.renameat(from: root, oldName: "file", to: root, newName: "r") },
            await failure { try await backend.unlinkat(in: root, name: "file", flags: 0) },
            await failure { try await backend.unlinkat(in: root, name: "dir", flags: 0x200) },
            await failure { try await backend.remove(file) },
            await failure { try await backend.xattrSet(file, name: "user.a", value: [1], flags: 0) },
        ]
        #expect(erofs.allSatisfy { $0 == EROFS })
        let open = try await backend.open(file, flags: 0)
        #expect(try await backend.read(open, offset: 0, count: 10) == Array("x".utf8))
        #expect(await failure { try await backend.write(open, offset: 0, data: [1]) } == EROFS)
        await backend.close(open)
        #expect(try fixture.contents("file") == "x")
        #expect(FileManager.default.fileExists(atPath: fixture.export + "/dir"))
    }

    @Test("a 200-deep chain of nodes walks back up and is released")
    func deepChainRelease() async throws {
        let fixture = try LocalBackendFixture()
        let backend = fixture.backend
        var node: any FileNode = try await fixture.root()
        for _ in 0..<200 {
            _ = try await backend.mkdir(in: node, name: "d", mode: 0o755, gid: 0)
            node = try #require(try await backend.walk(from: node, names: ["d"]).first)
        }
        let up = try await backend.walk(from: node, names: Array(repeating: "..", count: 16))
        #expect(up.count == 16)
        node = try await fixture.root()
    }
}
