import EmuCore
#if canImport(Glibc)
import Glibc
#endif

/// Reads whole host files (kernels, initrds) into memory.
public enum HostFile {
    /// The largest file read: 2 GiB.
    public static let maximumSize = 2 << 30

    /// The bytes of the regular file at `path`.
    /// - Throws: ``SystemCallError`` from `open`, `fstat` or `read`; `EFBIG` for a file over
    ///   ``maximumSize``, `EINVAL` for something other than a regular file.
    public static func read(_ path: String) throws(SystemCallError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .current("open") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .current("fstat") }
        guard info.st_mode & mode_t(S_IFMT) == mode_t(S_IFREG) else { throw SystemCallError("read", errno: EINVAL) }
        guard info.st_size <= maximumSize else { throw SystemCallError("read", errno: EFBIG) }
        let size = Int(info.st_size)
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        var failure: SystemCallError?
        bytes.withUnsafeMutableBytes { raw in
            while done < size {
                let n = Glibc.read(fd, raw.baseAddress.map { $0 + done }, size - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = .current("read")
                    return
                }
                if n == 0 { break }  // the file shrank while being read
                done += n
            }
        }
        if let failure { throw failure }
        return done == size ? bytes : Array(bytes.prefix(done))
    }
}
