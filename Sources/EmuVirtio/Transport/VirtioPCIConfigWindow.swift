import EmuCore

/// The data bytes of virtio-pci's `VIRTIO_PCI_CAP_PCI_CFG` capability (virtio 1.2 §4.1.4.9): an
/// access to them reaches BAR `cap.bar` at `cap.offset`, `cap.length` bytes wide, as the driver
/// last programmed those fields in the same capability.
///
/// The access goes through only when the fields describe something real: BAR 0 (the only BAR
/// this transport has), a length of 1, 2 or 4, an offset aligned to the length and inside the
/// BAR. Otherwise writes are ignored and reads give 0 (§4.1.5.4, "MUST ignore"). The window works
/// whether or not the guest enabled memory decoding, which is its reason to exist.
struct VirtioPCIConfigWindow: PCIConfigurationWindow {
    /// The capability's offset in configuration space.
    let capability: Int
    let configuration: PCIConfigurationSpace
    let bar: VirtioPCIBar

    /// The programmed BAR access, if valid.
    private func target() -> (offset: UInt64, length: Int)? {
        let barIndex = configuration.read(offset: capability + 4, size: 1)
        let offset = UInt64(configuration.read(offset: capability + 8, size: 4))
        let length = Int(configuration.read(offset: capability + 12, size: 4))
        guard barIndex == 0, [1, 2, 4].contains(length), offset % UInt64(length) == 0,
              offset + UInt64(length) <= VirtioPCITransport.barSize else { return nil }
        return (offset, length)
    }

    func read(offset: Int, size: Int) -> UInt32 {
        guard let t = target() else { return 0 }
        let data = UInt32(truncatingIfNeeded: bar.read(offset: t.offset, size: t.length))
        let shifted = UInt64(data) >> (8 * UInt64(offset))
        return UInt32(truncatingIfNeeded: size == 4 ? shifted : shifted & ((1 << (8 * UInt64(size))) - 1))
    }

    func write(offset: Int, size: Int, value: UInt32) {
        // The data field is written as a whole (offset 0) at least as wide as the access.
        guard offset == 0, let t = target(), size >= t.length else { return }
        let mask: UInt64 = t.length == 4 ? 0xFFFF_FFFF : (1 << (8 * UInt64(t.length))) - 1
        bar.write(offset: t.offset, size: t.length, value: UInt64(value) & mask)
    }
}
