import Foundation
import Testing

/// The package manifest as `swift package dump-package` reports it: who depends on whom. A user
/// who imports EmuVirtio (or its test kit) to write a device of their own must not build or link
/// any device back end; the devices sit on top, each with only its own back end.
@Suite("EmuVirtio's place in the package")
struct PackageLayeringTests {
    /// The targets and products of the package, read once per test from the manifest.
    struct Manifest {
        /// Target name → names of the targets it depends on in this package, and the products of
        /// other packages it depends on.
        let targets: [String: (targets: Set<String>, products: Set<String>)]
        /// Product name → its target names.
        let products: [String: [String]]

        init() throws {
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            // A scratch path of its own: the suite runs while `swift test` holds the package's.
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("emu-layering-\(getpid())")
            process.arguments = ["swift", "package", "--package-path", root.path, "--scratch-path", scratch.path,
                                 "dump-package"]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            try? FileManager.default.removeItem(at: scratch)
            try #require(process.terminationStatus == 0, "swift package dump-package failed; is swift on PATH?")
            let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            var targets: [String: (Set<String>, Set<String>)] = [:]
            for target in json["targets"] as? [[String: Any]] ?? [] {
                guard let name = target["name"] as? String else { continue }
                var inPackage = Set<String>(), external = Set<String>()
                for dependency in target["dependencies"] as? [[String: Any]] ?? [] {
                    // {"byName": [name, condition]}, {"target": [name, condition]} or
                    // {"product": [name, package, moduleAliases, condition]}.
                    if let byName = (dependency["byName"] ?? dependency["target"]) as? [Any], let n = byName.first as? String {
                        inPackage.insert(n)
                    } else if let product = dependency["product"] as? [Any], let n = product.first as? String {
                        external.insert(n)
                    }
                }
                targets[name] = (inPackage, external)
            }
            self.targets = targets
            var products: [String: [String]] = [:]
            for product in json["products"] as? [[String: Any]] ?? [] {
                if let name = product["name"] as? String { products[name] = product["targets"] as? [String] ?? [] }
            }
            self.products = products
        }

        /// `target` and every target it depends on in this package, directly or not.
        func closure(of target: String) -> Set<String> {
            var seen: Set<String> = [], work = [target]
            while let next = work.popLast() {
                guard seen.insert(next).inserted else { continue }
                work += targets[next]?.targets ?? []
            }
            return seen
        }
    }

    /// The targets that carry a device back end or link libaio or zlib.
    static let backEnds: Set<String> = ["BlockLayer", "NinePServer", "CLibAIO", "CZlib"]

    @Test(arguments: ["EmuVirtio", "EmuVirtioTesting", "EmuVirtioConsole", "EmuVirtioEntropy"])
    func buildsWithoutAnyBackEnd(target: String) throws {
        let manifest = try Manifest()
        let closure = manifest.closure(of: target)
        #expect(closure.contains("EmuCore"))
        #expect(closure.isDisjoint(with: Self.backEnds), "\(target) reaches \(closure.intersection(Self.backEnds))")
        #expect(closure.isDisjoint(with: ["EmuVirtioBlock", "EmuVirtioNineP"]))
        // Of other packages only swift-atomics.
        for t in closure { #expect(manifest.targets[t]?.products.isSubset(of: ["Atomics"]) ?? true, "\(t)") }
    }

    @Test func eachDeviceFamilyReachesOnlyItsOwnBackEnd() throws {
        let manifest = try Manifest()
        let block = manifest.closure(of: "EmuVirtioBlock"), nineP = manifest.closure(of: "EmuVirtioNineP")
        #expect(block.contains("BlockLayer") && block.contains("EmuVirtio"))
        #expect(!block.contains("NinePServer"))
        #expect(nineP.contains("NinePServer") && nineP.contains("EmuVirtio"))
        #expect(nineP.isDisjoint(with: ["BlockLayer", "CLibAIO", "CZlib"]))
    }

    @Test func aUserCanDependOnEachPieceAsAProduct() throws {
        let manifest = try Manifest()
        for name in ["EmuVirtio", "EmuVirtioTesting", "EmuVirtioBlock", "EmuVirtioNineP", "EmuVirtioConsole", "EmuVirtioEntropy"] {
            #expect(manifest.products[name] == [name], "product \(name)")
        }
    }
}
