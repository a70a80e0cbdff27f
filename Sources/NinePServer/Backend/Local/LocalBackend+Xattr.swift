#if canImport(Glibc)
import Glibc
#endif
import CEmuSystem

/// Txattrwalk and the commit of Txattrcreate.
extension LocalBackend {
    /// XATTR_SIZE_MAX and XATTR_LIST_MAX on Linux.
    private static let xattrLimit = 65536
    private static let xattrCreate: UInt32 = 1
    private static let xattrReplace: UInt32 = 2

    /// The attribute's value, or with an empty name the NUL-separated list of names.
    /// Regular files and directories only (EOPNOTSUPP otherwise).
    public func xattrGet(_ node: any FileNode, name: String) async throws -> [UInt8] {
        let node = try local(node)
        let path = try Self.xattrPath(node)
        if name.utf8.contains(0) { throw NinePError.invalid }
        return try await pool.run {
            var buffer = [UInt8](repeating: 0, count: Self.xattrLimit)
            while true {
                let count: Int = buffer.withUnsafeMutableBytes { raw in
                    if name.isEmpty {
                        return emu_listxattr(path, raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count)
                    }
                    return emu_getxattr(path, name, raw.baseAddress, raw.count)
                }
                if count >= 0 {
                    buffer.removeLast(buffer.count - count)
                    return buffer
                }
                if errno != EINTR { throw NinePError.current() }
            }
        }
    }

    /// Sets a `user.` attribute (other namespaces: EOPNOTSUPP), honouring XATTR_CREATE and
    /// XATTR_REPLACE. An empty value with XATTR_REPLACE removes the attribute: that is how
    /// Linux's v9fs sends removexattr.
    public func xattrSet(_ node: any FileNode, name: String, value: [UInt8], flags: UInt32) async throws {
        try requireWritable()
        let node = try local(node)
        let path = try Self.xattrPath(node)
        guard !name.utf8.contains(0), name.hasPrefix("user."), name.utf8.count > 5 else {
            throw name.utf8.contains(0) || name.isEmpty ? NinePError.invalid : NinePError.notSupported
        }
        guard value.count <= Self.xattrLimit else { throw NinePError(errno: E2BIG) }
        let hostFlags = Int32(flags & (Self.xattrCreate | Self.xattrReplace))
        let remove = value.isEmpty && flags & Self.xattrReplace != 0
        try await pool.run {
            if remove {
                try Host.retrying { emu_removexattr(path, name) }
            } else {
                try Host.retrying {
                    value.withUnsafeBytes { raw in emu_setxattr(path, name, raw.baseAddress, raw.count, hostFlags) }
                }
            }
        }
    }

    private static func xattrPath(_ node: LocalNode) throws(NinePError) -> String {
        guard Host.isOpenable(node.fileType) else { throw NinePError.notSupported }
        return Host.procPath(node.fd)
    }
}
