import Testing
import EmuCore
@testable import EmuPC

@Suite("Local APIC registers")
struct LocalAPICRegisterTests {
    @Test func identityVersionAndResetValues() throws {
        let rig = try APICRig()
        #expect(rig.read(0x20) == 0)
        #expect(rig.read(0x30) == 0x0005_0014, "version 0x14, max LVT entry 5")
        #expect(rig.read(0xF0) == 0xFF, "software-disabled, spurious vector 0xFF")
        #expect(rig.read(0xE0) == 0xFFFF_FFFF)
        #expect(rig.read(0x350) == 0x700, "the BSP's LINT0 is ExtINT, as firmware leaves it")
        for register: UInt64 in [0x320, 0x330, 0x340, 0x360, 0x370] {
            #expect(rig.read(register) == 0x1_0000, "LVT \(register) masked")
        }
        rig.write(0x20, 0x0500_0000)
        #expect(rig.read(0x20) == 0x0500_0000)
        #expect(rig.lapic.matches(destination: 5, mode: .physical))
        #expect(!rig.lapic.matches(destination: 0, mode: .physical))
        #expect(rig.lapic.matches(destination: 0xFF, mode: .physical), "broadcast")
    }

    @Test func narrowAndUnalignedAccessesBehaveAsHardware() throws {
        let rig = try APICRig()
        #expect(rig.memory.read(at: PCMemoryMap.localAPICBase + 0x32, size: 1) == 0x05, "byte read of the max LVT field")
        #expect(rig.memory.read(at: PCMemoryMap.localAPICBase + 0x30, size: 2) == 0x0014)
        rig.memory.write(at: PCMemoryMap.localAPICBase + 0x80, size: 1, value: 0x70)
        #expect(rig.read(0x80) == 0, "writes narrower than 32 bits are ignored")
        rig.memory.write(at: PCMemoryMap.localAPICBase + 0x84, size: 4, value: 0x70)
        #expect(rig.read(0x80) == 0, "bytes 4-15 of a register slot are not the register")
        #expect(rig.memory.read(at: PCMemoryMap.localAPICBase + 0x34, size: 4) == 0)
        rig.memory.write(at: PCMemoryMap.localAPICBase + 0x80, size: 8, value: 0xFFFF_FFFF_0000_0030)
        #expect(rig.read(0x80) == 0x30, "an 8-byte write reaches the register as its low dword")
    }

    @Test func reservedRegistersReadZeroAndLatchAnIllegalRegisterError() throws {
        let rig = try APICRig()
        rig.enable()
        rig.write(0x370, 0xE0)  // error LVT unmasked, vector 0xE0
        #expect(rig.read(0x2F0) == 0, "no CMCI LVT with max LVT 5")
        #expect(rig.read(0x280) == 0, "errors show only after an ESR write")
        rig.write(0x280, 0)
        #expect(rig.read(0x280) == 0x80)
        #expect(rig.requested(0xE0), "a new error fires the error LVT")
        rig.write(0x280, 0)
        #expect(rig.read(0x280) == 0, "the write latched and cleared the errors")
    }

    @Test func logicalDestinationsInFlatAndClusterModels() throws {
        let rig = try APICRig()
        rig.enable(logicalID: 0x01)
        #expect(rig.read(0xD0) == 0x0100_0000)
        #expect(rig.lapic.matches(destination: 0x01, mode: .logical), "Linux's logical flat ID 1")
        #expect(rig.lapic.matches(destination: 0x03, mode: .logical))
        #expect(!rig.lapic.matches(destination: 0x02, mode: .logical))
        rig.write(0xE0, 0x0000_0000)  // cluster model
        #expect(rig.read(0xE0) == 0x0FFF_FFFF, "only the model bits are writable")
        rig.write(0xD0, 0x1200_0000)  // cluster 1, member bit 1
        #expect(rig.lapic.matches(destination: 0x12, mode: .logical))
        #expect(rig.lapic.matches(destination: 0x13, mode: .logical))
        #expect(!rig.lapic.matches(destination: 0x14, mode: .logical), "other member")
        #expect(!rig.lapic.matches(destination: 0x22, mode: .logical), "other cluster")
        #expect(rig.lapic.matches(destination: 0xF2, mode: .logical), "cluster broadcast")
    }

    @Test func softwareDisableMasksTheLVTAndRefusesFixedMessages() throws {
        let rig = try APICRig()
        rig.enable()
        rig.write(0x360, 0x400)  // LINT1 NMI, unmasked
        #expect(rig.read(0x360) == 0x400)
        rig.write(0xF0, 0xFF)  // software-disable
        #expect(rig.read(0x360) & 0x1_0000 != 0, "disabling masks every LVT entry")
        rig.write(0x360, 0x400)
        #expect(rig.read(0x360) & 0x1_0000 != 0, "and the mask cannot be cleared while disabled")
        #expect(!rig.lapic.receive(rig.fixed(0x40)))
        #expect(!rig.requested(0x40))
        #expect(rig.lapic.receive(APICMessage(destination: 0, destinationMode: .physical, deliveryMode: .nmi, vector: 0)),
                "NMIs are still accepted")
        #expect(rig.lapic.pendingEvents.contains(.nmi))
    }

    @Test func apicBaseMSRRelocatesDisablesAndRefusesReservedBits() throws {
        let rig = try APICRig()
        #expect(rig.lapic.readMSR(0x1B) == 0xFEE0_0900, "base, enabled, BSP")
        #expect(rig.lapic.writeMSR(0x1B, value: 0xFED0_0800))
        #expect(rig.lapic.readMSR(0x1B) == 0xFED0_0900, "the BSP bit is read-only")
        #expect(rig.memory.read(at: 0xFED0_0030, size: 4) == 0x0005_0014, "registers at the new base")
        #expect(rig.memory.read(at: 0xFEE0_0030, size: 4) == 0xFFFF_FFFF, "nothing left at the old one")
        #expect(!rig.lapic.writeMSR(0x1B, value: 0xFEE0_0C00), "x2APIC is not offered")
        #expect(!rig.lapic.writeMSR(0x1B, value: 0xFEE0_0801), "reserved bits")
        rig.enable()
        rig.write(0x80, 0x20)
        #expect(rig.lapic.writeMSR(0x1B, value: 0xFEE0_0000))
        #expect(rig.memory.read(at: 0xFEE0_0030, size: 4) == 0xFFFF_FFFF, "a disabled APIC has no registers")
        #expect(!rig.lapic.receive(rig.fixed(0x40)), "nor does it take messages")
        #expect(rig.lapic.writeMSR(0x1B, value: 0xFEE0_0800))
        #expect(rig.read(0x80) == 0 && rig.read(0xF0) == 0xFF, "re-enabled in its power-up state")
        #expect(rig.lapic.readMSR(0x10) == nil, "not an APIC MSR")
        #expect(!rig.lapic.writeMSR(0x830, value: 0), "no x2APIC MSRs")
    }

    @Test func resetRestoresPowerUpStateAndBase() throws {
        let rig = try APICRig()
        rig.enable()
        _ = rig.lapic.writeMSR(0x1B, value: 0xFED0_0800)
        rig.lapic.reset(.cold)
        #expect(rig.lapic.readMSR(0x1B) == 0xFEE0_0900)
        #expect(rig.read(0xF0) == 0xFF)
        #expect(rig.read(0xD0) == 0)
    }
}
