/// Creates image files (`emu-img create`).
public enum ImageCreator {
    /// Creates (or replaces) the image at `path`: raw (a sparse file of `size` bytes) or qcow2
    /// (see ``Qcow2Creator``), with an optional backing file and format (qcow2 only; the backing
    /// format is probed when not given and the backing file exists). Throws `invalidArgument` for
    /// bad options, the file's errors otherwise.
    public static func create(path: String, format: ImageFormat, size: UInt64, clusterSize: Int = 65_536,
                              backingFile: String? = nil, backingFormat: ImageFormat? = nil) async throws(BlockError) {
        if format == .raw && backingFile != nil { throw .invalidArgument("raw images have no backing file") }
        let file = try await BlockNode(name: path, driver: try FileDriver(path: path, create: true))
        switch format {
        case .raw:
            try await file.truncate(to: 0)
            try await file.truncate(to: size)
            try await file.flush()
        case .qcow2:
            var formatName = backingFormat?.rawValue
            if let backingFile, formatName == nil {
                let resolved = ImageOpener.resolve(backingFile, relativeTo: path)
                if let probed = try? await ImageOpener.probe(path: resolved) { formatName = probed.rawValue }
            }
            try await Qcow2Creator.format(file: file, size: size, clusterSize: clusterSize,
                                          backingFile: backingFile, backingFormat: formatName)
        }
    }
}
