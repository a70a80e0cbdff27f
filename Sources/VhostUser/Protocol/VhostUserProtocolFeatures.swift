/// Protocol feature bits 0–19 (`VHOST_USER_PROTOCOL_F_*`), exchanged with
/// GET/SET_PROTOCOL_FEATURES once the back end offers ``VhostUserProtocolFeatures/virtioBit``.
public struct VhostUserProtocolFeatures: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// The virtio feature bit (30, `VHOST_USER_F_PROTOCOL_FEATURES`) that says the back end speaks
    /// protocol features; when negotiated, rings start disabled and need SET_VRING_ENABLE.
    public static let virtioBit: UInt64 = 1 << 30

    public static let multiQueue = Self(rawValue: 1 << 0)
    public static let logSharedMemory = Self(rawValue: 1 << 1)
    public static let rarp = Self(rawValue: 1 << 2)
    /// The back end acknowledges any message that carries `NEED_REPLY` with a u64 status.
    public static let replyAck = Self(rawValue: 1 << 3)
    public static let netMTU = Self(rawValue: 1 << 4)
    public static let backendRequest = Self(rawValue: 1 << 5)
    public static let crossEndian = Self(rawValue: 1 << 6)
    public static let cryptoSession = Self(rawValue: 1 << 7)
    public static let pageFault = Self(rawValue: 1 << 8)
    /// GET_CONFIG/SET_CONFIG are understood.
    public static let config = Self(rawValue: 1 << 9)
    public static let backendSendFD = Self(rawValue: 1 << 10)
    public static let hostNotifier = Self(rawValue: 1 << 11)
    public static let inflightSharedMemory = Self(rawValue: 1 << 12)
    public static let resetDevice = Self(rawValue: 1 << 13)
    public static let inbandNotifications = Self(rawValue: 1 << 14)
    /// GET_MAX_MEM_SLOTS, ADD_MEM_REG and REM_MEM_REG are understood.
    public static let configureMemSlots = Self(rawValue: 1 << 15)
    public static let status = Self(rawValue: 1 << 16)
    public static let xenMmap = Self(rawValue: 1 << 17)
    public static let sharedObject = Self(rawValue: 1 << 18)
    public static let deviceState = Self(rawValue: 1 << 19)

    /// Every bit this codec knows (0–19).
    public static let known = Self(rawValue: (1 << 20) - 1)

    public var description: String {
        let names = ["MQ", "LOG_SHMFD", "RARP", "REPLY_ACK", "NET_MTU", "BACKEND_REQ", "CROSS_ENDIAN",
                     "CRYPTO_SESSION", "PAGEFAULT", "CONFIG", "BACKEND_SEND_FD", "HOST_NOTIFIER",
                     "INFLIGHT_SHMFD", "RESET_DEVICE", "INBAND_NOTIFICATIONS", "CONFIGURE_MEM_SLOTS",
                     "STATUS", "XEN_MMAP", "SHARED_OBJECT", "DEVICE_STATE"]
        var parts: [String] = []
        for bit in 0..<64 where rawValue & (1 << UInt64(bit)) != 0 {
            parts.append(bit < names.count ? names[bit] : "bit\(bit)")
        }
        return parts.isEmpty ? "none" : parts.joined(separator: ",")
    }
}
