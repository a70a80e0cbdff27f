// emu-9p: serves a host directory over 9P2000.L on a TCP or Unix socket.
//   emu-9p --listen tcp:HOST:PORT | unix:PATH --export DIR [--readonly] [--msize N] [--max-memory SIZE]
// Any aname attaches to the export, so `mount -t 9p -o trans=tcp,port=...,aname=...` works
// whatever aname the client sends. Exits cleanly on SIGINT or SIGTERM.
import ArgumentParser
import Dispatch
import Logging
import NinePServer
#if canImport(Glibc)
import Glibc
#endif

@main
struct EmuNineP: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emu-9p",
        abstract: "Serve a host directory over 9P2000.L.")

    @Option(name: .long, help: "tcp:HOST:PORT or unix:PATH")
    var listen: String

    @Option(name: .long, help: "The directory to export.")
    var export: String

    @Flag(name: .long, help: "Refuse every modifying operation (EROFS).")
    var readonly = false

    @Option(name: .long, help: "The largest msize to agree to (at least 4096).")
    var msize: UInt32 = 1 << 20

    @Option(name: .customLong("max-memory"),
            help: "Bound on all clients' request and reply buffers together: bytes, or with K, M or G (default 256M).")
    var maxMemory: String = "256M"

    /// `maxMemory` in bytes, or nil if it does not parse (or overflows).
    static func parseSize(_ text: String) -> Int? {
        var digits = Substring(text)
        var shift = 0
        switch text.last {
        case "K", "k": shift = 10
        case "M", "m": shift = 20
        case "G", "g": shift = 30
        default: break
        }
        if shift != 0 { digits = digits.dropLast() }
        guard let value = Int(digits), value > 0, value <= Int.max >> shift else { return nil }
        return value << shift
    }

    func validate() throws {
        guard NinePListenAddress(parsing: listen) != nil else {
            throw ValidationError("--listen takes tcp:HOST:PORT or unix:PATH, not \(listen)")
        }
        guard msize >= 4096 else { throw ValidationError("--msize must be at least 4096") }
        guard Self.parseSize(maxMemory) != nil else { throw ValidationError("--max-memory takes a size such as 268435456 or 256M, not \(maxMemory)") }
    }

    func run() async throws {
        var logger = Logger(label: "emu-9p")
        logger.logLevel = .info
        guard let address = NinePListenAddress(parsing: listen) else { throw ExitCode.validationFailure }
        let backend: LocalBackend
        do {
            backend = try LocalBackend(exportPath: export, readOnly: readonly)
        } catch {
            logger.error("cannot export \(export): \(error)")
            throw ExitCode.failure
        }
        let server: NinePSocketServer
        do {
            server = try NinePSocketServer(address: address, backend: backend, msizeCeiling: msize,
                                           maxMemory: Self.parseSize(maxMemory) ?? NinePSocketServer.defaultMaxMemory)
        } catch {
            logger.error("cannot listen on \(address): \(error)")
            throw ExitCode.failure
        }
        let shown: String
        if case let .tcp(host, _) = address { shown = "tcp:\(host):\(server.boundPort)" } else { shown = address.description }
        logger.info("serving \(export)\(readonly ? " read-only" : "") on \(shown), msize up to \(msize), buffers within \(server.memoryBudget.limit) bytes")

        let signal = await waitForTermination()
        logger.info("signal \(signal): stopping")
        await server.stop()
        logger.info("stopped")
    }
}

/// Waits for SIGINT or SIGTERM (delivered through Dispatch, not an async-signal handler).
private func waitForTermination() async -> Int32 {
    await withCheckedContinuation { continuation in
        let once = DispatchQueue(label: "emu-9p.signals")
        var sources: [DispatchSourceSignal] = []
        var resumed = false
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: once)
            source.setEventHandler {
                guard !resumed else { return }
                resumed = true
                sources.forEach { $0.cancel() }
                continuation.resume(returning: number)
            }
            source.resume()
            sources.append(source)
        }
    }
}
