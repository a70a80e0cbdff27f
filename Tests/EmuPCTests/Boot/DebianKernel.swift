import Foundation
import Testing
@testable import EmuPC

/// Debian's kernel (`linux-image-amd64`, installed by scripts/install-deps), parsed and
/// decompressed once per test run and shared by the boot tests.
enum DebianKernel {
    /// The newest `/boot/vmlinuz-*`.
    static let path: String? = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/boot")) ?? []
        return names.filter { $0.hasPrefix("vmlinuz-") }.sorted().last.map { "/boot/" + $0 }
    }()

    /// The release ("6.1.0-57-amd64"), from the file name.
    static var release: String? { path.map { String($0.dropFirst("/boot/vmlinuz-".count)) } }

    static let image: Result<BzImage, LinuxBootError>? = path.map { path in
        Result { () throws(LinuxBootError) in try BzImage(contentsOf: path) }
    }

    static let vmlinux: Result<VmlinuxImage, LinuxBootError>? = image.map { result in
        result.flatMap { image in Result { () throws(LinuxBootError) in try image.decompressedKernel() } }
    }

    static let missing = "Debian's kernel is missing: install linux-image-amd64 (scripts/install-deps)"

    /// The parsed bzImage, or a failed requirement naming what is missing.
    static func bzImage() throws -> BzImage {
        let result = try #require(image, Comment(rawValue: missing))
        return try result.get()
    }

    /// The decompressed kernel.
    static func decompressed() throws -> VmlinuxImage {
        let result = try #require(vmlinux, Comment(rawValue: missing))
        return try result.get()
    }
}
