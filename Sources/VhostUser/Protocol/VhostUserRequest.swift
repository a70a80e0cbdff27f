/// A front-end request code (the vhost-user specification's "front-end message types", 1–43).
///
/// The raw value is what travels in a message header. Codes outside 1–43 are not representable:
/// a back end's reply carrying one is refused by ``VhostUserConnection``.
public enum VhostUserRequest: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case getFeatures = 1
    case setFeatures = 2
    case setOwner = 3
    case resetOwner = 4
    case setMemTable = 5
    case setLogBase = 6
    case setLogFD = 7
    case setVringNum = 8
    case setVringAddr = 9
    case setVringBase = 10
    case getVringBase = 11
    case setVringKick = 12
    case setVringCall = 13
    case setVringErr = 14
    case getProtocolFeatures = 15
    case setProtocolFeatures = 16
    case getQueueNum = 17
    case setVringEnable = 18
    case sendRARP = 19
    case netSetMTU = 20
    case setBackendReqFD = 21
    case iotlbMessage = 22
    case setVringEndian = 23
    case getConfig = 24
    case setConfig = 25
    case createCryptoSession = 26
    case closeCryptoSession = 27
    case postcopyAdvise = 28
    case postcopyListen = 29
    case postcopyEnd = 30
    case getInflightFD = 31
    case setInflightFD = 32
    case gpuSetSocket = 33
    case resetDevice = 34
    case vringKick = 35
    case getMaxMemSlots = 36
    case addMemReg = 37
    case remMemReg = 38
    case setStatus = 39
    case getStatus = 40
    case getSharedObject = 41
    case setDeviceStateFD = 42
    case checkDeviceState = 43

    /// Whether the back end always replies to this request, whatever `REPLY_ACK` says (the
    /// "get" requests and the few "set" requests that return a value).
    public var hasReply: Bool {
        switch self {
        case .getFeatures, .getProtocolFeatures, .getVringBase, .getQueueNum, .getConfig,
             .createCryptoSession, .postcopyAdvise, .postcopyEnd, .getInflightFD, .getMaxMemSlots,
             .getStatus, .getSharedObject, .setDeviceStateFD, .checkDeviceState:
            return true
        default:
            return false
        }
    }

    /// The name the specification uses, e.g. `VHOST_USER_GET_FEATURES`.
    public var description: String {
        let names: [VhostUserRequest: String] = [
            .getFeatures: "GET_FEATURES", .setFeatures: "SET_FEATURES", .setOwner: "SET_OWNER",
            .resetOwner: "RESET_OWNER", .setMemTable: "SET_MEM_TABLE", .setLogBase: "SET_LOG_BASE",
            .setLogFD: "SET_LOG_FD", .setVringNum: "SET_VRING_NUM", .setVringAddr: "SET_VRING_ADDR",
            .setVringBase: "SET_VRING_BASE", .getVringBase: "GET_VRING_BASE", .setVringKick: "SET_VRING_KICK",
            .setVringCall: "SET_VRING_CALL", .setVringErr: "SET_VRING_ERR",
            .getProtocolFeatures: "GET_PROTOCOL_FEATURES", .setProtocolFeatures: "SET_PROTOCOL_FEATURES",
            .getQueueNum: "GET_QUEUE_NUM", .setVringEnable: "SET_VRING_ENABLE", .sendRARP: "SEND_RARP",
            .netSetMTU: "NET_SET_MTU", .setBackendReqFD: "SET_BACKEND_REQ_FD", .iotlbMessage: "IOTLB_MSG",
            .setVringEndian: "SET_VRING_ENDIAN", .getConfig: "GET_CONFIG", .setConfig: "SET_CONFIG",
            .createCryptoSession: "CREATE_CRYPTO_SESSION", .closeCryptoSession: "CLOSE_CRYPTO_SESSION",
            .postcopyAdvise: "POSTCOPY_ADVISE", .postcopyListen: "POSTCOPY_LISTEN", .postcopyEnd: "POSTCOPY_END",
            .getInflightFD: "GET_INFLIGHT_FD", .setInflightFD: "SET_INFLIGHT_FD", .gpuSetSocket: "GPU_SET_SOCKET",
            .resetDevice: "RESET_DEVICE", .vringKick: "VRING_KICK", .getMaxMemSlots: "GET_MAX_MEM_SLOTS",
            .addMemReg: "ADD_MEM_REG", .remMemReg: "REM_MEM_REG", .setStatus: "SET_STATUS",
            .getStatus: "GET_STATUS", .getSharedObject: "GET_SHARED_OBJECT",
            .setDeviceStateFD: "SET_DEVICE_STATE_FD", .checkDeviceState: "CHECK_DEVICE_STATE",
        ]
        return "VHOST_USER_" + (names[self] ?? "\(rawValue)")
    }
}
