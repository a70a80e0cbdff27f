import Testing
import Synchronization
import EmuCore
@testable import EmuPC
#if canImport(Glibc)
import Glibc
#endif

/// A port stand-in that records what its host side offers and takes a limited amount.
final class RecordingPort: SerialPortClient {
    private let input = BoundedSink()
    private let ready = Mutex<Int>(0)
    var received: [UInt8] { input.bytes }
    var readyNotices: Int { ready.withLock { $0 } }
    func setRoom(_ room: Int) { input.setRoom(room) }
    func receiveFromHost(_ bytes: ArraySlice<UInt8>) -> Int { input.take(bytes) }
    func hostReadyForOutput() { ready.withLock { $0 += 1 } }
}

private func temporaryPath(_ name: String) -> String {
    "/tmp/emu-serial-\(getpid())-\(UInt32.random(in: 0...UInt32.max))-\(name)"
}

private func pipePair() -> (read: Int32, write: Int32) {
    var fds: [Int32] = [0, 0]
    let rc = pipe(&fds)
    #expect(rc == 0)
    // Reading ends do not block, so the test can poll its own; the host side reads only when
    // the fd polls readable either way.
    _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
    return (fds[0], fds[1])
}

private func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
    let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    #expect(written == bytes.count)
}

private func readAvailable(_ fd: Int32) -> [UInt8] {
    var buffer = [UInt8](repeating: 0, count: 4096)
    let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    return count > 0 ? Array(buffer.prefix(count)) : []
}

@Suite("Serial host sides")
struct SerialHostSideTests {
    let loop = EventLoop()

    @Test func escapeFilterFindsCommandsAcrossChunks() {
        var filter = SerialEscapeFilter()
        let first = filter.filter([0x61, 0x01])
        #expect(first.bytes == [0x61] && first.commands.isEmpty)
        let second = filter.filter([UInt8(ascii: "x"), 0x62])
        #expect(second.bytes == [0x62] && second.commands == [.quit])
        let third = filter.filter([0x01, 0x01, 0x01, UInt8(ascii: "h"), 0x01, 0x63])
        #expect(third.bytes == [0x01, 0x01, 0x63] && third.commands == [.help])
    }

    @Test func stdioHostPumpsBothWaysAndFiltersEscapes() {
        let input = pipePair(), output = pipePair()
        defer { [input.read, input.write, output.read, output.write].forEach { _ = close($0) } }
        let commands = Mutex<[SerialEscapeCommand]>([])
        let host = StdioSerialHost(loop: loop, input: input.read, output: output.write,
                                   onEscape: { command in commands.withLock { $0.append(command) } })
        defer { host.close() }
        #expect(!host.isRawMode, "a pipe is not a terminal")
        let port = RecordingPort()
        host.connect(port)
        writeAll(input.write, [0x6C, 0x73, 0x01, UInt8(ascii: "x"), 0x0D])
        #expect(loop.run(timeout: 2_000_000_000) { port.received.count == 3 })
        #expect(port.received == [0x6C, 0x73, 0x0D])
        #expect(commands.withLock { $0 } == [.quit])
        #expect(host.send(Array("out".utf8)[...]) == 3)
        var echoed: [UInt8] = []
        #expect(loop.run(timeout: 2_000_000_000) {
            echoed += readAvailable(output.read)
            return echoed.count == 3
        })
        #expect(echoed == Array("out".utf8))
    }

    @Test func stdioHostStopsReadingWhileThePortIsFull() {
        let input = pipePair(), output = pipePair()
        defer { [input.read, input.write, output.read, output.write].forEach { _ = close($0) } }
        let host = StdioSerialHost(loop: loop, input: input.read, output: output.write)
        defer { host.close() }
        let port = RecordingPort()
        port.setRoom(2)
        host.connect(port)
        let bytes = (0..<200).map { UInt8($0) }
        writeAll(input.write, bytes)
        loop.run(timeout: 50_000_000) { false }
        #expect(port.received == [0, 1])
        var available: Int32 = 0
        _ = ioctl(input.read, UInt(FIONREAD), &available)
        #expect(available == 200 - Int32(SerialStream.readChunk), "one chunk read, the rest left in the pipe")
        port.setRoom(1_000)
        host.receiveSpaceAvailable()
        #expect(loop.run(timeout: 2_000_000_000) { port.received.count == 200 })
        #expect(port.received == bytes, "nothing lost, in order")
    }

    @Test func stdioHostBoundsOutputForAStalledReader() {
        let input = pipePair(), output = pipePair()
        defer { [input.read, input.write, output.read, output.write].forEach { _ = close($0) } }
        let host = StdioSerialHost(loop: loop, input: input.read, output: output.write, outputLimit: 1_000)
        defer { host.close() }
        let port = RecordingPort()
        host.connect(port)
        var accepted = 0
        let chunk = [UInt8](repeating: 0x41, count: 512)
        for _ in 0..<1_000 {
            accepted += host.send(chunk[...])
            loop.iterate()
        }
        // The pipe holds 64 KiB; the host side holds at most its limit beyond that.
        #expect(accepted <= 65_536 + 1_000)
        #expect(accepted >= 1_000)
        var drained = 0
        #expect(loop.run(timeout: 2_000_000_000) {
            while true {
                let got = readAvailable(output.read).count
                if got == 0 { break }
                drained += got
            }
            return port.readyNotices > 0
        }, "the port is told when the host side can take output again")
    }

    @Test func stdioHostDropsOutputOnceItsReaderIsGone() {
        let input = pipePair(), output = pipePair()
        defer { [input.read, input.write, output.write].forEach { _ = close($0) } }
        close(output.read)
        let host = StdioSerialHost(loop: loop, input: input.read, output: output.write, outputLimit: 16)
        defer { host.close() }
        let port = RecordingPort()
        host.connect(port)
        #expect(host.send([UInt8](repeating: 1, count: 32)[...]) == 16, "buffered up to the limit")
        #expect(loop.run(timeout: 2_000_000_000) { port.readyNotices == 1 }, "the port is released")
        #expect(host.send([UInt8](repeating: 1, count: 1_000)[...]) == 1_000, "dropped from now on")
        for _ in 0..<10 { loop.iterate() }
    }

    @Test func rawModeIsSetOnATerminalAndRestoredOnClose() throws {
        // posix_openpt and friends are not in Swift's Glibc module: the same through /dev/ptmx
        // and its ioctls (TIOCSPTLCK to unlock, TIOCGPTN for the number; x86-64 values).
        let master = open("/dev/ptmx", O_RDWR | O_NOCTTY)
        try #require(master >= 0)
        defer { close(master) }
        var unlock: Int32 = 0
        var number: UInt32 = 0
        #expect(ioctl(master, 0x4004_5431, &unlock) == 0)
        #expect(ioctl(master, 0x8004_5430, &number) == 0)
        let terminal = open("/dev/pts/\(number)", O_RDWR | O_NOCTTY)
        try #require(terminal >= 0)
        defer { close(terminal) }
        var before = termios()
        tcgetattr(terminal, &before)
        #expect(before.c_lflag & tcflag_t(ECHO) != 0, "a new pty echoes")
        let host = StdioSerialHost(loop: loop, input: terminal, output: terminal)
        #expect(host.isRawMode)
        var during = termios()
        tcgetattr(terminal, &during)
        #expect(during.c_lflag & tcflag_t(ECHO | ICANON | ISIG) == 0, "raw: no echo, no lines, no signals")
        host.close()
        var after = termios()
        tcgetattr(terminal, &after)
        #expect(after.c_lflag == before.c_lflag && after.c_iflag == before.c_iflag && after.c_oflag == before.c_oflag)
    }

    @Test func fileHostWritesEverythingByClose() throws {
        let path = temporaryPath("out.txt")
        defer { unlink(path) }
        let host = try FileSerialHost(loop: loop, path: path, outputLimit: 100)
        let port = RecordingPort()
        host.connect(port)
        var sent: [UInt8] = []
        for round in 0..<50 {
            let bytes = Array("line \(round)\n".utf8)
            var offset = 0
            while offset < bytes.count {
                let taken = host.send(bytes[offset...])
                offset += taken
                if taken == 0 { loop.iterate() }
            }
            sent += bytes
        }
        host.close()
        let fd = open(path, O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        var contents = [UInt8](repeating: 0, count: 8192)
        let count = contents.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        #expect(Array(contents.prefix(max(0, count))) == sent)
        #expect(throws: SystemCallError.self) { try FileSerialHost(loop: loop, path: "/nonexistent/dir/file") }
    }

    @Test func unixSocketHostServesOneClientAndDropsOutputWithoutOne() throws {
        let path = temporaryPath("console.sock")
        let host = try UnixSocketSerialHost(loop: loop, path: path)
        defer { host.close() }
        let port = RecordingPort()
        host.connect(port)
        #expect(host.send(Array("nobody".utf8)[...]) == 6)
        #expect(host.droppedBytes == 6)

        let client = try connectClient(path)
        defer { close(client) }
        #expect(loop.run(timeout: 2_000_000_000) { host.hasClient })
        #expect(host.send(Array("hello".utf8)[...]) == 5)
        var got: [UInt8] = []
        #expect(loop.run(timeout: 2_000_000_000) {
            got += readAvailable(client)
            return got.count == 5
        })
        #expect(got == Array("hello".utf8))
        writeAll(client, Array("typed".utf8))
        #expect(loop.run(timeout: 2_000_000_000) { port.received.count == 5 })
        #expect(port.received == Array("typed".utf8))

        // A second client waits while the first is connected, and is served once it leaves.
        let second = try connectClient(path)
        defer { close(second) }
        loop.run(timeout: 20_000_000) { false }
        let notices = port.readyNotices
        close(client)
        #expect(loop.run(timeout: 2_000_000_000) { port.readyNotices >= notices + 2 },
                "told of the disconnect and of the next client")
        #expect(host.hasClient)
        #expect(host.send(Array("again".utf8)[...]) == 5)
        var again: [UInt8] = []
        #expect(loop.run(timeout: 2_000_000_000) {
            again += readAvailable(second)
            return again.count == 5
        })
        #expect(again == Array("again".utf8))
        #expect(host.droppedBytes == 6)
    }

    @Test func unixSocketHostRefusesAPathThatIsNotASocket() throws {
        let path = temporaryPath("plain")
        let fd = open(path, O_WRONLY | O_CREAT, 0o600)
        try #require(fd >= 0)
        close(fd)
        defer { unlink(path) }
        #expect(throws: SystemCallError("bind(\(path))", errno: EEXIST)) {
            try UnixSocketSerialHost(loop: loop, path: path)
        }
        let long = "/tmp/" + String(repeating: "x", count: 200)
        #expect(throws: SystemCallError.self) { try UnixSocketSerialHost(loop: loop, path: long) }
    }

    @Test func unixSocketHostBoundsOutputForAClientThatNeverReads() throws {
        let path = temporaryPath("flood.sock")
        let host = try UnixSocketSerialHost(loop: loop, path: path, outputLimit: 4_096)
        defer { host.close() }
        let port = RecordingPort()
        host.connect(port)
        let client = try connectClient(path)
        defer { close(client) }
        #expect(loop.run(timeout: 2_000_000_000) { host.hasClient })
        var accepted = 0
        let chunk = [UInt8](repeating: 0x5A, count: 1_024)
        for _ in 0..<20_000 {
            let taken = host.send(chunk[...])
            accepted += taken
            if taken == 0 { loop.iterate() }
        }
        // The socket buffers hold a bounded amount (a few hundred KiB); the host side 4 KiB.
        #expect(accepted < 20_000 * 1_024 / 4, "back-pressure, not unbounded buffering")
    }

    private func connectClient(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(fd >= 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8)
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(rc == 0)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        return fd
    }
}
