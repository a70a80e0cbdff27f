import Synchronization

/// What kind of reset a device goes through.
public enum ResetKind: Sendable, Equatable {
    /// Power-on: every register to its documented initial value.
    case cold
    /// A warm reset (the guest or the machine asked for one); devices may keep some state.
    case warm
}

/// A device model: something with a name that can be reset.
///
/// Device models attach to buses through ``MMIOHandler`` regions, IRQ lines, and the event loop;
/// this protocol is what a machine needs to manage them as a set.
public protocol Device: AnyObject, Sendable {
    /// A unique name in the machine, e.g. `"serial0"`.
    var name: String { get }

    /// Returns the device to its reset state. Must not fail; called on the machine's loop thread.
    func reset(_ kind: ResetKind)
}

/// An ordered set of devices that is reset together, in registration order.
public final class DeviceSet: Sendable {
    private let devices = Mutex<[any Device]>([])

    /// Creates an empty set.
    public init() {}

    /// Adds a device.
    /// - Throws: ``DeviceSetError/duplicateName(_:)`` if a device of that name is already there.
    public func add(_ device: any Device) throws(DeviceSetError) {
        try devices.withLock { (devices) throws(DeviceSetError) in
            if devices.contains(where: { $0.name == device.name }) {
                throw .duplicateName(device.name)
            }
            devices.append(device)
        }
    }

    /// The device called `name`, if any.
    public func device(named name: String) -> (any Device)? {
        devices.withLock { $0.first { $0.name == name } }
    }

    /// All devices in registration order.
    public var all: [any Device] { devices.withLock { $0 } }

    /// Resets every device in registration order.
    public func reset(_ kind: ResetKind) {
        for device in all { device.reset(kind) }
    }
}

/// Errors of ``DeviceSet``.
public enum DeviceSetError: Error, Equatable, Sendable {
    /// Two devices may not share a name.
    case duplicateName(String)
}

