/// The role a child node plays for its parent node.
public enum BlockChildRole: String, Sendable, Hashable, CaseIterable {
    /// The protocol node a format driver reads its bytes from.
    case file
    /// The image a copy-on-write format falls back to for unallocated data (later slices).
    case backing
}
