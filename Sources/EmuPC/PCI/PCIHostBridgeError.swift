/// Why the host side of the PCI host bridge refused something (host programming errors and
/// resource shortages; never caused by guest input).
public enum PCIHostBridgeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Device numbers are 0–31 and function numbers 0–7; 00.0 is the host bridge.
    case invalidAddress(device: Int, function: Int)
    /// A function is already attached there.
    case slotInUse(device: Int, function: Int)
    /// A BAR handler was given for a BAR the configuration space does not declare.
    case noSuchBar(device: Int, function: Int, bar: Int)
    /// The window for this BAR has no room left.
    case windowExhausted(device: Int, function: Int, bar: Int, size: UInt64)
    /// Building the BAR's memory region failed.
    case memoryTopology(String)

    public var description: String {
        switch self {
        case .invalidAddress(let d, let f): "PCI address 00:\(d).\(f) is not a device/function number the bridge can attach"
        case .slotInUse(let d, let f): "PCI function 00:\(d).\(f) is already attached"
        case .noSuchBar(let d, let f, let b): "PCI function 00:\(d).\(f) has a handler for BAR \(b) but declares no such BAR"
        case .windowExhausted(let d, let f, let b, let size):
            "no room in the PCI window for BAR \(b) (\(size) bytes) of 00:\(d).\(f)"
        case .memoryTopology(let why): "PCI BAR region: \(why)"
        }
    }
}
