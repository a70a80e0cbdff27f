/// Identifies one independent consumer of dirty-page information on a ``RAMBlock``.
///
/// Each client has its own bitmap: clearing one client's bits never affects another's, and a
/// client that is not tracking records nothing. There are ``maxClients`` slots: three well-known
/// ones and ``customCount`` for the host application.
public struct DirtyMemoryClient: Hashable, Sendable, CustomStringConvertible {
    /// Total number of client slots per RAM block.
    public static let maxClients = 8
    /// Number of slots available through ``custom(_:)``.
    public static let customCount = maxClients - 3

    /// The slot index, `0..<maxClients`.
    public let index: Int

    private init(index: Int) { self.index = index }

    /// Translated-code invalidation (a TCG-like CPU drops code on written pages).
    public static let code = DirtyMemoryClient(index: 0)
    /// Live migration (pages to resend).
    public static let migration = DirtyMemoryClient(index: 1)
    /// Framebuffer/display refresh.
    public static let display = DirtyMemoryClient(index: 2)

    /// A host-defined client; `nil` unless `number` is in `0..<customCount`.
    public static func custom(_ number: Int) -> DirtyMemoryClient? {
        guard number >= 0, number < customCount else { return nil }
        return DirtyMemoryClient(index: 3 + number)
    }

    var bit: UInt8 { 1 << UInt8(index) }

    public var description: String {
        switch index {
        case 0: return "code"
        case 1: return "migration"
        case 2: return "display"
        default: return "custom(\(index - 3))"
        }
    }
}
