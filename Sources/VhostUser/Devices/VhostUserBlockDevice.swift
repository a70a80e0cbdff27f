import EmuCore
import EmuVirtio

/// vhost-user-blk: a ``VhostUserDevice`` of type virtio-blk whose configuration space (capacity,
/// limits, geometry) comes from the back end (qemu-storage-daemon's vhost-user-blk export, say).
public enum VhostUserBlockDevice {
    /// The virtio-blk configuration space size this front end exposes (through `num_queues` and
    /// the discard/write-zeroes limits, §5.2.4).
    public static let configSize = 60

    /// Connects to the back end at `socketPath`, negotiates, shares `regions` and reads the
    /// configuration; see ``VhostUserDevice/init(frontEnd:deviceType:configSize:regions:queueCount:queueSize:loop:reconnector:)``.
    /// With `reconnect`, the device connects to the same path again after the back end went away.
    /// `queueCount` request queues (multi-queue needs the back end's `MQ` protocol feature and as
    /// many queues, e.g. qemu-storage-daemon's `num-queues`).
    /// - Throws: ``VhostUserError``.
    public static func connect(socketPath: String, regions: [VhostUserGuestRegion], loop: EventLoop,
                               queueSize: UInt16 = 256, queueCount: Int = 1, timeout: Duration = .seconds(5),
                               reconnect: Bool = false) throws(VhostUserError) -> VhostUserDevice {
        try VhostUserDevice.connect(socketPath: socketPath, deviceType: .block, configSize: configSize, queueCount: queueCount,
                                    regions: regions, loop: loop, queueSize: queueSize, timeout: timeout, reconnect: reconnect)
    }

    /// The capacity in 512-byte sectors, from a virtio-blk configuration space's first 8 bytes.
    public static func capacity(of device: VhostUserDevice) -> UInt64 {
        UInt64(device.readConfig(offset: 0, size: 4)) | UInt64(device.readConfig(offset: 4, size: 4)) << 32
    }
}
