#if canImport(Glibc)
import Glibc
#endif

/// Checks on the file names a client sends.
///
/// A name is one path component: empty names, names containing '/' and names containing
/// NUL (which would silently truncate the C string) are refused with EINVAL, as are '.'
/// and '..' wherever a file would be created, renamed or removed. Length is left to the
/// host file system (ENAMETOOLONG).
enum NameCheck {
    /// A component the client may walk or look up ('.' and '..' allowed).
    static func component(_ name: String) throws(NinePError) {
        if name.isEmpty || name.utf8.contains(UInt8(ascii: "/")) || name.utf8.contains(0) {
            throw NinePError.invalid
        }
    }

    /// A name that is created, renamed to, or removed: also refuses '.' and '..'.
    static func entry(_ name: String) throws(NinePError) {
        try component(name)
        if name == "." || name == ".." { throw NinePError.invalid }
    }
}
