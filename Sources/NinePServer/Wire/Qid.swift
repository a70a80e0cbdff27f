/// The server's identity for a file: type[1] version[4] path[8] on the wire (13 bytes).
///
/// `path` must be unique per file within the server; `version` changes when the file does;
/// `type` carries the QTDIR/QTSYMLINK/... bits.
public struct Qid: Hashable, Sendable {
    /// QTDIR: the file is a directory.
    public static let typeDirectory: UInt8 = 0x80
    /// QTAPPEND: append-only file.
    public static let typeAppend: UInt8 = 0x40
    /// QTEXCL: exclusive-use file.
    public static let typeExclusive: UInt8 = 0x20
    /// QTAUTH: authentication file.
    public static let typeAuth: UInt8 = 0x08
    /// QTSYMLINK: symbolic link.
    public static let typeSymlink: UInt8 = 0x02
    /// QTFILE: plain file.
    public static let typeFile: UInt8 = 0x00

    /// Bytes of a qid on the wire.
    public static let wireSize = 13

    /// QT* bits describing the kind of file.
    public var type: UInt8
    /// Changes whenever the file's contents or metadata change (0 if the server does not track it).
    public var version: UInt32
    /// Unique per file for the lifetime of the export (the server usually derives it from dev/inode).
    public var path: UInt64

    /// Creates a qid from its three fields.
    public init(type: UInt8, version: UInt32, path: UInt64) {
        self.type = type
        self.version = version
        self.path = path
    }
}
