// swift-tools-version: 6.1
// The Emu library family: independent library targets a host application composes into a machine.
// See docs/ARCHITECTURE.md for the layers and the rules that keep them independent.
import PackageDescription

let strictSwift6: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
]

let package = Package(
    name: "Emu",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "EmuCore", targets: ["EmuCore"]),
        .library(name: "EmuPC", targets: ["EmuPC"]),
        .library(name: "NinePServer", targets: ["NinePServer"]),
        .library(name: "EmuVirtio", targets: ["EmuVirtio"]),
        .library(name: "EmuVirtioTesting", targets: ["EmuVirtioTesting"]),
        .library(name: "EmuVirtioBlock", targets: ["EmuVirtioBlock"]),
        .library(name: "EmuVirtioNineP", targets: ["EmuVirtioNineP"]),
        .library(name: "EmuVirtioConsole", targets: ["EmuVirtioConsole"]),
        .library(name: "EmuVirtioEntropy", targets: ["EmuVirtioEntropy"]),
        .library(name: "BlockLayer", targets: ["BlockLayer"]),
        .library(name: "VhostUser", targets: ["VhostUser"]),
        .executable(name: "emu-pc", targets: ["emu-pc"]),
        .executable(name: "emu-9p", targets: ["emu-9p"]),
        .executable(name: "emu-img", targets: ["emu-img"]),
        .executable(name: "emu-vhost", targets: ["emu-vhost"]),
        .library(name: "EmuTCG", targets: ["EmuTCG"]),
        .library(name: "EmuLinuxUser", targets: ["EmuLinuxUser"]),
        .executable(name: "emu-user", targets: ["emu-user"]),
        .executable(name: "emu-user-bench", targets: ["EmuUserBench"]),
        .executable(name: "emu-core-bench", targets: ["EmuCoreBench"]),
        .executable(name: "emu-virtio-bench", targets: ["EmuVirtioBench"]),
        .executable(name: "emu-block-io-bench", targets: ["BlockIOBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // System libraries (Debian: libglib2.0-dev, zlib1g-dev, libaio-dev).
        .systemLibrary(
            name: "CGLib",
            pkgConfig: "glib-2.0",
            providers: [.apt(["libglib2.0-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .systemLibrary(
            name: "CLibAIO",
            providers: [.apt(["libaio-dev"])]
        ),
        // liblzma (Debian: liblzma-dev): EmuPC decompresses a bzImage's xz payload on the host.
        .systemLibrary(
            name: "CLZMA",
            pkgConfig: "liblzma",
            providers: [.apt(["liblzma-dev"])]
        ),
        // Thin C wrappers for Linux calls the Glibc module does not expose (memfd, eventfd).
        .target(name: "CEmuSystem"),

        .target(
            name: "EmuCore",
            dependencies: [
                "CGLib",
                "CEmuSystem",
                .product(name: "Atomics", package: "swift-atomics"),
            ],
            swiftSettings: strictSwift6
        ),
        .target(
            name: "EmuPC",
            dependencies: ["EmuCore", "CLZMA"],
            swiftSettings: strictSwift6
        ),
        // 9P2000.L file server: EmuCore for the socket transport's loop; CEmuSystem for fstatfs
        // and the xattr calls of the local back end.
        .target(
            name: "NinePServer",
            dependencies: ["EmuCore", "CEmuSystem"],
            path: "Sources/NinePServer",
            swiftSettings: strictSwift6
        ),
        // Virtqueues, transports and the device-model protocol; the driver-side test kit is a
        // product of its own. The devices sit on top, one target per family, so that each links
        // only its own back end (Sources/EmuVirtioDevices/<family>).
        .target(
            name: "EmuVirtio",
            dependencies: ["EmuCore", .product(name: "Atomics", package: "swift-atomics")],
            swiftSettings: strictSwift6
        ),
        .target(
            name: "EmuVirtioBlock",
            dependencies: ["EmuVirtio", "EmuCore", "BlockLayer"],
            path: "Sources/EmuVirtioDevices/Block",
            swiftSettings: strictSwift6
        ),
        .target(
            name: "EmuVirtioNineP",
            dependencies: ["EmuVirtio", "EmuCore", "NinePServer"],
            path: "Sources/EmuVirtioDevices/NineP",
            swiftSettings: strictSwift6
        ),
        .target(
            name: "EmuVirtioConsole",
            dependencies: ["EmuVirtio", "EmuCore"],
            path: "Sources/EmuVirtioDevices/Console",
            swiftSettings: strictSwift6
        ),
        .target(
            name: "EmuVirtioEntropy",
            dependencies: ["EmuVirtio", "EmuCore"],
            path: "Sources/EmuVirtioDevices/Entropy",
            swiftSettings: strictSwift6
        ),
        // Block drivers, the node graph, device backends and drained sections.
        .target(
            name: "BlockLayer",
            dependencies: ["EmuCore", "CEmuSystem", "CLibAIO", "CZlib"],
            swiftSettings: strictSwift6
        ),
        // x86-64 by dynamic translation: decoder, IR, front end, portable back end.
        .target(
            name: "EmuTCG",
            // CEmuSystem: SSE floating point on the host's SSE unit under the guest's MXCSR.
            // Atomics: LOCK-prefixed instructions on guest memory shared by guest threads.
            // EmuCore: system mode's physical memory (AddressSpace), interrupt controller and TSC.
            dependencies: ["EmuCore", "CEmuSystem", .product(name: "Atomics", package: "swift-atomics")],
            swiftSettings: strictSwift6
        ),
        // Linux user mode on EmuTCG: ELF loader, initial stack, table-driven syscalls.
        .target(
            name: "EmuLinuxUser",
            dependencies: ["EmuTCG", "CEmuSystem", .product(name: "Atomics", package: "swift-atomics")],
            swiftSettings: strictSwift6
        ),
        .target(
            name: "EmuVirtioTesting",
            dependencies: ["EmuVirtio", "EmuCore", .product(name: "Atomics", package: "swift-atomics")],
            swiftSettings: strictSwift6
        ),
        // vhost-user front end, devices and a small back end; CEmuSystem for SCM_RIGHTS.
        .target(
            name: "VhostUser",
            dependencies: ["EmuVirtio", "EmuCore", "CEmuSystem"],
            swiftSettings: strictSwift6
        ),
        .executableTarget(
            name: "emu-pc",
            dependencies: [
                "EmuPC", "EmuCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Examples/emu-pc",
            swiftSettings: strictSwift6
        ),
        .executableTarget(
            name: "emu-9p",
            dependencies: [
                "NinePServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Examples/emu-9p",
            swiftSettings: strictSwift6
        ),
        .executableTarget(
            name: "emu-img",
            dependencies: [
                "BlockLayer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Examples/emu-img",
            swiftSettings: strictSwift6
        ),
        .executableTarget(
            name: "emu-vhost",
            dependencies: [
                "VhostUser", "EmuVirtio", "EmuVirtioBlock", "EmuVirtioTesting", "EmuCore", "ExampleSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Examples/emu-vhost",
            swiftSettings: strictSwift6
        ),
        .executableTarget(
            name: "emu-user",
            dependencies: [
                "EmuLinuxUser", "EmuTCG", "ExampleSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Examples/emu-user",
            swiftSettings: strictSwift6
        ),
        // What every program in Examples/ shares: how it reports on standard error.
        .target(
            name: "ExampleSupport",
            path: "Examples/Support",
            swiftSettings: strictSwift6
        ),
        .target(
            name: "BenchmarkSupport",
            path: "Benchmarks/BenchmarkSupport",
            swiftSettings: strictSwift6
        ),
        .executableTarget(
            name: "EmuVirtioBench",
            dependencies: ["EmuVirtio", "EmuVirtioBlock", "EmuVirtioTesting", "EmuCore", "BlockLayer", "BenchmarkSupport"],
            path: "Benchmarks/EmuVirtioBench",
            swiftSettings: strictSwift6
        ),
        .executableTarget(
            name: "EmuUserBench",
            dependencies: ["BenchmarkSupport"],
            path: "Benchmarks/EmuUserBench",
            swiftSettings: strictSwift6
        ),
        .executableTarget(
            name: "BlockIOBench",
            dependencies: ["BlockLayer", "EmuCore", "BenchmarkSupport"],
            path: "Benchmarks/BlockIOBench",
            swiftSettings: strictSwift6
        ),
        .executableTarget(
            name: "EmuCoreBench",
            dependencies: ["EmuCore", "CGLib", "CEmuSystem", "BenchmarkSupport"],
            path: "Benchmarks/EmuCoreBench",
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "EmuCoreTests",
            dependencies: ["EmuCore"],
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "EmuPCTests",
            dependencies: ["EmuPC", "EmuCore"],
            swiftSettings: strictSwift6
        ),
        // Queues, transports and the test kit; the transports are driven with virtio-rng, the
        // one device that needs no back end.
        .testTarget(
            name: "EmuVirtioTests",
            dependencies: ["EmuVirtio", "EmuVirtioTesting", "EmuCore", "EmuVirtioEntropy"],
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "EmuVirtioDevicesTests",
            dependencies: [
                "EmuVirtioBlock", "EmuVirtioNineP", "EmuVirtioConsole", "EmuVirtioEntropy",
                "EmuVirtio", "EmuVirtioTesting", "EmuCore", "BlockLayer", "NinePServer",
            ],
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "VhostUserTests",
            dependencies: ["VhostUser", "EmuVirtio", "EmuVirtioTesting", "EmuCore"],
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "EmuTCGTests",
            dependencies: ["EmuTCG", "EmuCore", "CEmuTCGTestSupport"],
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "EmuLinuxUserTests",
            dependencies: ["EmuLinuxUser", "EmuTCG", "CEmuSystem"],
            swiftSettings: strictSwift6
        ),
        // Runs single ALU instructions on the host CPU, for differential flag tests.
        .target(
            name: "CEmuTCGTestSupport",
            path: "Tests/CEmuTCGTestSupport"
        ),
        .testTarget(
            name: "BlockLayerTests",
            dependencies: ["BlockLayer", "EmuCore"],
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "NinePServerTests",
            dependencies: ["NinePServer"],
            swiftSettings: strictSwift6
        ),
    ]
)
