#if canImport(Glibc)
import Glibc
#endif

/// Gives memory the C allocator holds free back to the system. glibc keeps freed blocks of up
/// to its (self-raising) mmap threshold in its heaps, and those heaps rarely shrink by
/// themselves; `malloc_trim(0)` releases their free pages. It is looked up at run time (the
/// Glibc module does not export it); where it does not exist this does nothing.
enum HeapTrim {
    private typealias Trim = @convention(c) (Int) -> Int32

    private static let trim: Trim? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil } // RTLD_DEFAULT
        return unsafeBitCast(symbol, to: Trim.self)
    }()

    /// Releases free heap memory; returns whether the allocator gave any back.
    @discardableResult
    static func releaseFreeMemory() -> Bool {
        guard let trim else { return false }
        return trim(0) != 0
    }
}
