import ArgumentParser
import EmuVirtio
import ExampleSupport
import Foundation
import VhostUser
#if canImport(Glibc)
import Glibc
#endif

/// `emu-vhost`: a vhost-user front end without a VM, for people who write back ends.
@main
struct EmuVhost: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emu-vhost",
        abstract: "Drive a vhost-user back end as a front end with its own guest memory.",
        subcommands: [Blk.self])
}

struct Blk: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A vhost-user-blk back end.", subcommands: [Info.self, Read.self, Write.self, Bench.self, Watch.self])

    @Option(help: "The back end's Unix socket.") var socket: String
    @Option(help: "Request queues to set up (I/O uses the first).") var queues = 1

    func session() throws -> BlockSession { try BlockSession(socket: socket, queueCount: queues) }
}

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Features, protocol features, queues, capacity.")
    @ParentCommand var blk: Blk

    func run() throws {
        let s = try blk.session()
        let n = s.device.negotiation
        print("features: 0x\(String(n.backEndFeatures, radix: 16))")
        print("protocol-features: 0x\(String(n.offeredProtocolFeatures.rawValue, radix: 16)) (\(n.offeredProtocolFeatures))")
        print("negotiated-protocol-features: \(n.protocolFeatures)")
        print("queues: \(n.queueCount) (set up: \(s.device.queueMaxSizes.count))")
        print("capacity-sectors: \(VhostUserBlockDevice.capacity(of: s.device))")
        print("capacity-bytes: \(s.capacityBytes)")
        print("block-size: \(s.device.readConfig(offset: 20, size: 4))")
    }
}

struct Read: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write LENGTH bytes at OFFSET to stdout.")
    @ParentCommand var blk: Blk
    @Argument var offset: UInt64
    @Argument var length: Int

    func run() throws {
        guard length >= 0 else { throw ToolError("negative length") }
        let bytes = try blk.session().read(offset: offset, length: length)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { Glibc.write(1, $0.baseAddress, $0.count) }
            guard n > 0 else { throw ToolError("stdout: errno \(errno)") }
            written += n
        }
    }
}

struct Write: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write FILE's bytes at OFFSET.")
    @ParentCommand var blk: Blk
    @Argument var offset: UInt64
    @Argument var file: String

    func run() throws {
        guard let contents = FileManager.default.contents(atPath: file) else { throw ToolError("\(file): cannot be read") }
        let data = [UInt8](contents)
        try blk.session().write(offset: offset, data)
        print("wrote \(data.count) bytes at \(offset)")
    }
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "4 KiB random reads, then writes, per second.")
    @ParentCommand var blk: Blk
    @Option(help: "Requests in flight.") var qd = 1
    @Option(help: "Seconds per measurement.") var seconds = 3

    func run() throws {
        guard qd >= 1, qd <= 64, seconds >= 1 else { throw ToolError("--qd must be 1...64, --seconds at least 1") }
        let s = try blk.session()
        for write in [false, true] {
            let rate = try s.bench(write: write, depth: qd, duration: .seconds(seconds))
            print("4k-\(write ? "write" : "read") qd=\(qd): \(Int(rate)) requests/s")
        }
    }
}

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read LENGTH bytes at OFFSET COUNT times, reconnecting when the back end restarts.",
        discussion: "Prints one line per read with a hash of the bytes. When the device asks for a reset (the back end went away with a request outstanding) it is reset and initialised again, as a guest driver would.")
    @ParentCommand var blk: Blk
    @Argument var offset: UInt64
    @Argument var length: Int
    @Option var count = 10
    @Option(name: .customLong("interval-ms")) var intervalMilliseconds = 100

    func run() throws {
        guard length > 0, count > 0, intervalMilliseconds >= 0 else { throw ToolError("bad length, count or interval") }
        let s = try BlockSession(socket: blk.socket, queueCount: blk.queues, reconnect: true)
        var recoveries = 0
        for i in 0..<count {
            if i > 0 { usleep(UInt32(clamping: intervalMilliseconds * 1000)) }
            var bytes: [UInt8]?
            for _ in 0..<3 {
                do { bytes = try s.read(offset: offset, length: length); break } catch {
                    StandardError.print("retrying read \(i) after a device reset: \(error)")
                    recoveries += 1
                    try s.recover()
                }
            }
            guard let bytes else { throw ToolError("read \(i) failed three times") }
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for b in bytes { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
            print("read \(i): fnv1a=\(String(hash, radix: 16)) reconnects=\(s.device.reconnectCount) resets=\(recoveries)")
        }
    }
}
