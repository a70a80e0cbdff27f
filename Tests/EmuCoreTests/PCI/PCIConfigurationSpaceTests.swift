import Synchronization
import Testing
@testable import EmuCore

@Suite("PCI configuration space and MSI-X")
struct PCIConfigurationSpaceTests {
    func space(bars: [Int: PCIBar] = [:]) throws -> PCIConfigurationSpace {
        try PCIConfigurationSpace(vendorID: 0x1234, deviceID: 0x5678, revision: 2, classCode: 0x01_0600,
                                  subsystemVendorID: 0x1234, subsystemID: 1, interruptPin: 1, bars: bars)
    }

    @Test func barResourcesAreValidated() {
        #expect(PCIBar(.memory32, size: 4096) != nil)
        #expect(PCIBar(.memory32, size: 3000) == nil)  // not a power of two
        #expect(PCIBar(.memory32, size: 8) == nil)  // below 16
        #expect(PCIBar(.io, size: 512) == nil)  // I/O BARs are at most 256 bytes
        #expect(PCIBar(.io, size: 8, prefetchable: true)?.prefetchable == false)
    }

    @Test func barLayoutsThatOverlapAreRefused() throws {
        let m64 = try #require(PCIBar(.memory64, size: 4096)), m32 = try #require(PCIBar(.memory32, size: 4096))
        #expect(throws: PCIConfigurationError.invalidBar(5)) { try space(bars: [5: m64]) }
        #expect(throws: PCIConfigurationError.invalidBar(1)) { try space(bars: [0: m64, 1: m32]) }
        #expect(throws: PCIConfigurationError.invalidBar(6)) { try space(bars: [6: m32]) }
        _ = try space(bars: [0: m64, 2: m32])
    }

    @Test func ioAndMemoryBarsSizeAndDecodeSeparately() throws {
        let s = try space(bars: [0: try #require(PCIBar(.io, size: 32)), 1: try #require(PCIBar(.memory32, size: 1 << 20, prefetchable: true))])
        s.write(offset: 0x10, size: 4, value: 0xFFFF_FFFF)
        s.write(offset: 0x14, size: 4, value: 0xFFFF_FFFF)
        #expect(s.read(offset: 0x10, size: 4) == 0xFFFF_FFE1)
        #expect(s.read(offset: 0x14, size: 4) == 0xFFF0_0008)
        s.write(offset: 0x10, size: 4, value: 0xC040)
        s.write(offset: 0x14, size: 4, value: 0xFE00_0000)
        s.write(offset: 0x04, size: 2, value: UInt32(PCIConfigurationSpace.Command.ioSpace))
        #expect(s.barAddress(0) == 0xC040)
        #expect(s.barAddress(1) == nil)  // memory decoding off
    }

    @Test func capabilitiesChainAndStayReadOnlyExceptTheirMask() throws {
        let s = try space()
        let first = try s.addCapability(id: 0x09, body: [4, 1])
        let second = try s.addCapability(id: 0x05, body: [0xAA, 0xBB], writableMask: [0xFF, 0x00])
        #expect(s.read(offset: 0x34, size: 1) == UInt32(first))
        #expect(s.read(offset: first + 1, size: 1) == UInt32(second))
        #expect(s.read(offset: second + 1, size: 1) == 0)
        s.write(offset: second + 2, size: 2, value: 0x1122)
        #expect(s.read(offset: second + 2, size: 2) == 0xBB22)
        #expect(throws: PCIConfigurationError.noRoomForCapability(id: 1, length: 202)) {
            try s.addCapability(id: 1, body: [UInt8](repeating: 0, count: 200))
        }
    }

    @Test func msixFunctionMaskHoldsMessagesUntilCleared() throws {
        let s = try space(bars: [0: try #require(PCIBar(.memory32, size: 0x1000))])
        let sent = Mutex<[UInt32]>([])
        let msix = try MSIXController(vectors: 2, config: s, bar: 0, tableOffset: 0, pbaOffset: 0x800) { _, data in
            sent.withLock { $0.append(data) }
        }
        s.observeWrites { _, _ in msix.deliverPending() }
        #expect(msix.signal(0) == false)  // disabled: the caller uses INTx
        msix.tableWrite(offset: 8, size: 4, value: 0x77)
        msix.tableWrite(offset: 12, size: 4, value: 0)
        s.write(offset: msix.capabilityOffset + 2, size: 2, value: 0xC000)  // enable, function mask
        #expect(msix.signal(0))
        #expect(sent.withLock { $0 }.isEmpty && msix.pbaRead(offset: 0, size: 4) == 1)
        s.write(offset: msix.capabilityOffset + 2, size: 2, value: 0x8000)  // clear the function mask
        #expect(sent.withLock { $0 } == [0x77])
        #expect(msix.signal(5) == false)  // no such vector
        #expect(msix.tableRead(offset: 0x1000, size: 4) == 0)
    }
}
