/// The image formats the opener and creator know.
public enum ImageFormat: String, Sendable, CaseIterable {
    /// Bytes as they are.
    case raw
    /// QEMU copy-on-write version 2/3.
    case qcow2

    /// `qcow2` if `bytes` (an image's first bytes) start with the qcow2 magic, else `raw`.
    public static func probe(_ bytes: [UInt8]) -> ImageFormat {
        bytes.count >= 4 && bytes.bigEndian32(at: 0) == Qcow2Header.magic ? .qcow2 : .raw
    }
}
