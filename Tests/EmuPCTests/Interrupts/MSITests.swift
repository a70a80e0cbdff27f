import Testing
import EmuCore
@testable import EmuPC

@Suite("MSI delivery")
struct MSITests {
    @Test func addressAndDataDecode() throws {
        let message = try MSIMessage(address: 0xFEE0_100C, data: 0xC065)
        #expect(message.apicMessage == APICMessage(destination: 0x01, destinationMode: .logical,
                                                   deliveryMode: .lowestPriority, vector: 0x65,
                                                   trigger: .level, assert: true))
        #expect(message.redirectionHint)
        let physical = try MSIMessage(address: 0xFEE0_3000, data: 0x0041)
        #expect(physical.apicMessage.destination == 3 && physical.apicMessage.destinationMode == .physical)
        #expect(physical.apicMessage.deliveryMode == .fixed && physical.apicMessage.trigger == .edge)
        #expect(try MSIMessage(address: 0xFEE0_0000, data: 0x400).apicMessage.deliveryMode == .nmi)
        #expect(throws: MSIMessage.Refusal.notAnInterruptAddress) { try MSIMessage(address: 0xFED0_0000, data: 0x41) }
        #expect(throws: MSIMessage.Refusal.notAnInterruptAddress) { try MSIMessage(address: 0x1_FEE0_0000, data: 0x41) }
        #expect(throws: MSIMessage.Refusal.illegalVector) { try MSIMessage(address: 0xFEE0_0000, data: 0x0F) }
        #expect(throws: MSIMessage.Refusal.reservedDeliveryMode) { try MSIMessage(address: 0xFEE0_0000, data: 0x341) }
        #expect(throws: MSIMessage.Refusal.reservedDeliveryMode) { try MSIMessage(address: 0xFEE0_0000, data: 0x641) }
    }

    @Test func messagesReachTheLocalAPICAndBadOnesAreCounted() throws {
        let rig = try APICRig()
        rig.enable(logicalID: 0x01)
        let router = MSIRouter(bus: rig.bus)
        #expect(router.deliver(address: 0xFEE0_1004, data: 0x0061), "logical flat destination 0x01")
        #expect(rig.requested(0x61))
        #expect(router.deliver(address: 0xFEE0_0000, data: 0x0062), "physical 0")
        #expect(!router.deliver(address: 0xFEE0_7000, data: 0x0063), "physical 7 does not exist")
        #expect(!router.deliver(address: 0x1000, data: 0x0064))
        #expect(!router.deliver(address: 0xFEE0_1004, data: 0x0008))
        #expect(!router.deliver(address: 0xFEE0_1004, data: 0x0365))
        #expect(router.statistics == MSIRouter.Counts(delivered: 2, invalidAddress: 1, illegalVector: 1,
                                                       reservedDeliveryMode: 1, undeliverable: 1))
        #expect(router.statistics.dropped == 4)
        #expect(rig.drain() == [0x62, 0x61])
        for i in 0..<10_000 { router.deliver(address: UInt64(i) << 12, data: UInt32(i)) }
        #expect(rig.drain().count <= 256, "a flood leaves at most one IRR bit per vector")
    }

    @Test func anMSIXControllerDeliversThroughTheRouter() throws {
        let rig = try APICRig()
        rig.enable(logicalID: 0x01)
        let router = MSIRouter(bus: rig.bus)
        let bar = try #require(PCIBar(.memory32, size: 0x1000))
        let config = try PCIConfigurationSpace(vendorID: 0x1AF4, deviceID: 0x1042, revision: 1, classCode: 0x01_0000,
                                               subsystemVendorID: 0x1AF4, subsystemID: 1, interruptPin: 1, bars: [0: bar])
        let msix = try MSIXController(vectors: 2, config: config, bar: 0, tableOffset: 0, pbaOffset: 0x800) {
            router.deliver(address: $0, data: $1)
        }
        msix.tableWrite(offset: 16, size: 4, value: 0xFEE0_100C)
        msix.tableWrite(offset: 24, size: 4, value: 0x0071)
        msix.tableWrite(offset: 28, size: 4, value: 0)
        config.write(offset: msix.capabilityOffset + 2, size: 2, value: 0x8000)
        #expect(msix.signal(1))
        #expect(rig.drain() == [0x71])
    }
}
