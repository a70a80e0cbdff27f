#if canImport(Glibc)
import Glibc
#endif

/// Opens an image file as a block node graph: probes the format (qcow2 magic, else raw), and
/// for qcow2 opens the whole backing chain (read-only) below it.
///
/// Guarantees: a chain deeper than ``maximumDepth`` or one that comes back to an image already
/// in it (by real path) throws `corrupt`, before any deep recursion; backing files are opened
/// read-only; relative backing names resolve against the directory of the image naming them.
public enum ImageOpener {
    /// The deepest backing chain accepted.
    public static let maximumDepth = 64

    /// The format of the image at `path` from its first bytes. Throws the file's errors.
    public static func probe(path: String) async throws(BlockError) -> ImageFormat {
        let file = try await BlockNode(name: path, driver: try FileDriver(path: path, readOnly: true))
        let count = Int(min(file.length, 4))
        let buffer = BlockBuffer(count: count)
        if count > 0 { try await file.read(into: buffer, at: 0) }
        return ImageFormat.probe(buffer.array)
    }

    /// `name` as a path: absolute names as they are, relative ones against `image`'s directory.
    public static func resolve(_ name: String, relativeTo image: String) -> String {
        if name.hasPrefix("/") { return name }
        guard let slash = image.lastIndex(of: "/") else { return name }
        return String(image[...slash]) + name
    }

    /// Opens the image at `path` (format probed unless given) and its backing chain; the top
    /// node is writable unless `readOnly`; the backing images are read-only unless
    /// `backingWritable` (commit writes into a backing image); with `flushesToDisk: false` flushes
    /// write metadata back but skip `fdatasync` (qemu's `cache=unsafe`). Throws `corrupt` for a
    /// looping or too deep chain or a malformed image, `io` for files that cannot be opened,
    /// `unsupported` for unsupported images or backing formats.
    public static func open(path: String, format: ImageFormat? = nil, readOnly: Bool = false,
                            backingWritable: Bool = false, flushesToDisk: Bool = true) async throws(BlockError) -> BlockNode {
        try await open(path: path, format: format, readOnly: readOnly, backingWritable: backingWritable,
                       flushesToDisk: flushesToDisk, seen: [], depth: 0)
    }

    private static func realPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    private static func open(path: String, format: ImageFormat?, readOnly: Bool, backingWritable: Bool,
                             flushesToDisk: Bool, seen: Set<String>, depth: Int) async throws(BlockError) -> BlockNode {
        if depth > maximumDepth { throw .corrupt("backing chain deeper than \(maximumDepth) images at \(path)") }
        let real = realPath(path)
        if seen.contains(real) { throw .corrupt("backing chain loops back to \(path)") }
        let file = try await BlockNode(name: "\(path)#file", driver: try FileDriver(path: path, readOnly: readOnly, flushesToDisk: flushesToDisk))
        let chosen: ImageFormat
        if let format { chosen = format } else {
            let count = Int(min(file.length, 4))
            let buffer = BlockBuffer(count: count)
            if count > 0 { try await file.read(into: buffer, at: 0) }
            chosen = ImageFormat.probe(buffer.array)
        }
        switch chosen {
        case .raw:
            return try await BlockNode(name: path, driver: try RawFormatDriver(file: file, readOnly: readOnly))
        case .qcow2:
            // Read the header once without the backing to learn the backing file.
            let probe = try await Qcow2FormatDriver.open(file: file, readOnly: true, cacheBytes: 0)
            var backing: BlockNode? = nil
            if let name = probe.openedHeader.backingFile {
                var backingFormat: ImageFormat? = nil
                if let formatName = probe.openedHeader.backingFormat {
                    guard let known = ImageFormat(rawValue: formatName) else {
                        throw .unsupported("backing format \(formatName) of \(path)")
                    }
                    backingFormat = known
                }
                backing = try await open(path: resolve(name, relativeTo: path), format: backingFormat, readOnly: !backingWritable,
                                         backingWritable: backingWritable, flushesToDisk: flushesToDisk,
                                         seen: seen.union([real]), depth: depth + 1)
            }
            let driver = try await Qcow2FormatDriver.open(file: file, backing: backing, readOnly: readOnly)
            return try await BlockNode(name: path, driver: driver)
        }
    }

    /// The image below `top` in its chain whose file is `path` (both resolved to real paths),
    /// e.g. a base named on a command line; `nil` if there is none.
    public static func backingNode(of top: BlockNode, path: String) -> BlockNode? {
        let wanted = realPath(path)
        return chain(top).dropFirst().first { realPath($0.name) == wanted }
    }

    /// The nodes of a chain from `top` down through `backing` children (top first).
    public static func chain(_ top: BlockNode) -> [BlockNode] {
        var nodes: [BlockNode] = [top]
        var current = top
        while let next = current.children[.backing], nodes.count <= maximumDepth + 1 {
            nodes.append(next)
            current = next
        }
        return nodes
    }
}
