import Foundation
#if canImport(Glibc)
import Glibc
#endif

// Shared by the benchmark programs: measure the best of several repeats, print beside a peer.

/// One measured figure: what was measured, how many operations, how long.
public struct Measurement {
    public let name: String
    public let operations: Double
    public let seconds: Double
    public let unit: String           // "ops" or "bytes"

    public init(name: String, operations: Double, seconds: Double, unit: String) {
        self.name = name
        self.operations = operations
        self.seconds = seconds
        self.unit = unit
    }

    public var rate: Double { operations / seconds }
    public var nanosecondsPerOperation: Double { seconds * 1e9 / operations }

    public var rateText: String {
        if unit == "bytes" { return String(format: "%.2f GiB/s", rate / 1_073_741_824) }
        return String(format: "%.2f M/s", rate / 1e6)
    }
}

/// Runs `body` (which performs `operations` operations) `repeats` times; keeps the fastest.
public func measure(_ name: String, operations: Double, unit: String = "ops", repeats: Int = 5,
             _ body: () -> Void) -> Measurement
{
    body() // warm up: page faults, caches, lazy initialisation
    var best = Double.infinity
    for _ in 0..<repeats {
        let start = ContinuousClock.now
        body()
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        best = min(best, seconds)
    }
    return Measurement(name: name, operations: operations, seconds: best, unit: unit)
}

/// Prints a figure beside its peer (the physical limit or the plain-library equivalent) with
/// the ratio ours/peer for rates (higher is better for us when > 1).
public func report(_ ours: Measurement, against peer: Measurement?) {
    let ns = ours.unit == "bytes" ? String(repeating: " ", count: 12)
                                  : String(format: "%9.1f ns/op", ours.nanosecondsPerOperation)
    var line = "  \(ours.name.padding(toLength: 46, withPad: " ", startingAt: 0)) \(ours.rateText.leftPad(14)) \(ns)"
    if let peer {
        line += "   vs \(peer.name): \(peer.rateText)  ratio \(String(format: "%.2f", ours.rate / peer.rate))"
    }
    print(line)
}

extension String {
    public func leftPad(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}

/// Keeps a value alive and opaque to the optimiser.
@inline(never) @_optimize(none)
public func blackHole<T>(_ value: T) {
    withUnsafePointer(to: value) { _ = $0 }
}
