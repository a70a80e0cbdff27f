import Foundation
@testable import BlockLayer

/// A temporary directory removed when the body ends.
func withTemporaryDirectory(_ body: (String) async throws -> Void) async throws {
    let directory = NSTemporaryDirectory() + "emu-qcow2-\(UUID().uuidString)/"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try await body(directory)
}

/// Deterministic bytes for `count` positions, different per `seed`.
func pattern(_ count: Int, seed: UInt8) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ Int(seed) &* 13 &+ ($0 >> 9)) | 1 }
}

/// Reads `count` bytes of `node` at `offset`.
func readBytes(_ node: BlockNode, at offset: UInt64, count: Int) async throws -> [UInt8] {
    let buffer = BlockBuffer(count: count)
    try await node.read(into: buffer, at: offset)
    return buffer.array
}

/// The file's bytes.
func fileBytes(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// Overwrites bytes of a file in place.
func patchFile(_ path: String, at offset: Int, _ bytes: [UInt8]) throws {
    var data = try fileBytes(path)
    if data.count < offset + bytes.count { data += [UInt8](repeating: 0, count: offset + bytes.count - data.count) }
    data.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
    try Data(data).write(to: URL(fileURLWithPath: path))
}

/// Big-endian bytes of an integer.
func bigEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.bigEndian) { Array($0) }
}
