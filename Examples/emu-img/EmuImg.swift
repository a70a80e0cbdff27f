import ArgumentParser
import BlockLayer
#if canImport(Glibc)
import Glibc
#endif

/// A qemu-img-like tool over BlockLayer: every command is a thin wrapper around the library.
@main
struct EmuImg: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emu-img",
        abstract: "Create, inspect, check and convert raw and qcow2 disk images.",
        subcommands: [Info.self, Create.self, Convert.self, Check.self, Compare.self, Map.self,
                      Commit.self, Stream.self, Mirror.self])
}

/// Parses `FMT` for `-f`/`-O`/`-F`.
extension ImageFormat: ExpressibleByArgument {}

/// A size like `10G`, `512M`, `64k`, `4096` (qemu-img's suffixes, powers of 1024).
func parseSize(_ text: String) throws -> UInt64 {
    let units: [Character: UInt64] = ["k": 1 << 10, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "b": 1]
    var digits = text
    var multiplier: UInt64 = 1
    if let last = text.last, let unit = units[last] {
        multiplier = unit
        digits.removeLast()
    }
    guard let value = UInt64(digits), value <= UInt64.max / multiplier else {
        throw ValidationError("invalid size '\(text)'")
    }
    return value * multiplier
}

/// Prints `message` to standard error as `emu-img: message`.
func complain(_ message: String) {
    var standardError = FileHandleStream.standardError
    print("emu-img: \(message)", to: &standardError)
}

/// A TextOutputStream on a file descriptor.
struct FileHandleStream: TextOutputStream {
    let descriptor: Int32
    static var standardError: FileHandleStream { FileHandleStream(descriptor: 2) }
    mutating func write(_ string: String) {
        var bytes = Array(string.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
    }
}

/// Runs `body`, turning a `BlockError` into a message and exit status 1.
func runReportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as BlockError {
        complain("\(error)")
        throw ExitCode(1)
    }
}
