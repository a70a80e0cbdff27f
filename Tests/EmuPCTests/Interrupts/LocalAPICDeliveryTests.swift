import Testing
import Synchronization
import EmuCore
@testable import EmuPC

@Suite("Local APIC delivery")
struct LocalAPICDeliveryTests {
    @Test func interruptsAreTakenByPriorityClassAndEOIRetiresTheHighestInService() throws {
        let rig = try APICRig()
        rig.enable()
        #expect(rig.lapic.pendingEvents.isEmpty)
        #expect(rig.lapic.receive(rig.fixed(0x31)))
        #expect(rig.lapic.receive(rig.fixed(0x52)))
        #expect(rig.lapic.pendingEvents == .interrupt)
        #expect(rig.notifications.value == 1, "one notification when the interrupt became pending")
        #expect(rig.lapic.acknowledgeInterrupt() == 0x52)
        #expect(rig.inService(0x52) && !rig.requested(0x52) && rig.requested(0x31))
        #expect(rig.read(0xA0) == 0x50, "PPR follows the vector in service")
        #expect(!rig.lapic.pendingEvents.contains(.interrupt), "0x31 is below the in-service class")
        #expect(rig.lapic.acknowledgeInterrupt() == 0xFF, "nothing deliverable: the spurious vector")
        rig.write(0xB0, 0)
        #expect(!rig.inService(0x52))
        #expect(rig.lapic.pendingEvents == .interrupt)
        #expect(rig.lapic.acknowledgeInterrupt() == 0x31)
        rig.write(0xB0, 0)
        rig.write(0xB0, 0)  // an EOI with nothing in service is harmless
        #expect(rig.read(0xA0) == 0)
    }

    @Test func taskPriorityMasksLowerAndEqualClasses() throws {
        let rig = try APICRig()
        rig.enable()
        rig.write(0x80, 0x45)
        #expect(rig.lapic.taskPriorityClass == 4)
        #expect(rig.read(0xA0) == 0x45, "PPR = TPR when nothing is in service")
        rig.lapic.receive(rig.fixed(0x4F))
        #expect(!rig.lapic.pendingEvents.contains(.interrupt), "class 4 is not above TPR class 4")
        rig.lapic.receive(rig.fixed(0x51))
        #expect(rig.lapic.pendingEvents.contains(.interrupt))
        #expect(rig.drain() == [0x51])
        rig.lapic.setTaskPriorityClass(3)
        #expect(rig.read(0x80) == 0x30, "CR8 writes TPR[7:4] and clears TPR[3:0]")
        #expect(rig.drain() == [0x4F], "lowering the TPR releases the masked class")
    }

    @Test func arbitrationPriorityFollowsTheSDM() throws {
        let rig = try APICRig()
        rig.enable()
        rig.write(0x80, 0x20)
        #expect(rig.read(0x90) == 0x20)
        rig.lapic.receive(rig.fixed(0x61))
        #expect(rig.read(0x90) == 0x60, "the highest requested class when above the TPR")
    }

    @Test func levelTriggeredVectorsSetTheTMRAndTheirEOIReachesTheListeners() throws {
        let rig = try APICRig()
        let listener = EOIRecorder()
        rig.bus.addEOIListener(listener)
        rig.enable()
        rig.lapic.receive(rig.fixed(0x61, trigger: .level))
        rig.lapic.receive(rig.fixed(0x42))
        #expect(rig.bit(0x180, 0x61) && !rig.bit(0x180, 0x42))
        #expect(rig.drain() == [0x61, 0x42])
        #expect(listener.all == [0x61], "only the level-triggered vector's EOI is broadcast")
    }

    @Test func lint0InExtINTModeRunsThePICAcknowledgeCycle() throws {
        let rig = try APICRig()
        let acknowledged = CallCounter()
        rig.lapic.connectExternalInterruptController {
            acknowledged.increment()
            return 0x28
        }
        let line = rig.lapic.makeLINT0Line()
        line.raise()
        #expect(rig.lapic.pendingEvents == .interrupt, "ExtINT works before the OS enables the APIC")
        #expect(rig.lapic.acknowledgeInterrupt() == 0x28)
        #expect(acknowledged.value == 1)
        #expect(!rig.inService(0x28), "ExtINT bypasses the ISR")
        line.lower()
        #expect(rig.lapic.pendingEvents.isEmpty)
        rig.enable()
        rig.write(0x350, 0x1_0700)  // masked
        line.raise()
        #expect(rig.lapic.pendingEvents.isEmpty, "a masked LINT0 hides the PIC")
        _ = rig.lapic.writeMSR(0x1B, value: 0xFEE0_0000)  // hardware-disable: LINT0 is INTR
        #expect(rig.lapic.pendingEvents == .interrupt)
        #expect(rig.lapic.acknowledgeInterrupt() == 0x28)
    }

    @Test func withoutAPICControllerTheExtINTCycleGivesTheSpuriousVector() throws {
        let rig = try APICRig()
        rig.lapic.setLINT0(true)
        #expect(rig.lapic.acknowledgeInterrupt() == 0xFF)
    }

    @Test func lint1AsNMIAndFixedLevelLINT0WithRemoteIRR() throws {
        let rig = try APICRig()
        rig.enable()
        rig.write(0x360, 0x400)
        rig.lapic.setLINT1(true)
        #expect(rig.lapic.pendingEvents == .nmi)
        #expect(rig.lapic.takeNMI())
        #expect(!rig.lapic.takeNMI())
        rig.lapic.setLINT1(true)
        #expect(rig.lapic.pendingEvents.isEmpty, "no edge, no NMI")
        rig.write(0x350, 0x8000 | 0x70)  // fixed, level, vector 0x70
        rig.lapic.setLINT0(true)
        #expect(rig.read(0x350) & 0x4000 != 0, "remote IRR set")
        #expect(rig.lapic.acknowledgeInterrupt() == 0x70)
        rig.write(0xB0, 0)
        #expect(rig.requested(0x70), "still asserted after EOI: delivered again")
        rig.lapic.setLINT0(false)
        #expect(rig.lapic.acknowledgeInterrupt() == 0x70)
        rig.write(0xB0, 0)
        #expect(!rig.requested(0x70) && rig.read(0x350) & 0x4000 == 0)
    }

    @Test func icrSendsSelfIPIsAndINITAndSIPI() throws {
        let rig = try APICRig()
        rig.enable()
        rig.write(0x300, 0x0004_0040)  // shorthand self, fixed 0x40
        #expect(rig.requested(0x40))
        #expect(rig.read(0x300) & 0x1000 == 0, "delivery status reads idle")
        rig.write(0x310, 0)  // destination: our physical ID 0
        rig.write(0x300, 0x0000_0041)
        #expect(rig.requested(0x41), "a physical IPI to our own ID")
        rig.write(0x300, 0x0008_0042)  // all including self
        #expect(rig.requested(0x42))
        rig.write(0x300, 0x000C_0043)  // all excluding self
        #expect(!rig.requested(0x43))
        rig.write(0x310, 0x0100_0000)
        rig.write(0x300, 0x0000_0844)  // logical destination 0x01
        #expect(rig.requested(0x44))
        rig.write(0x300, 0x0000_4400)  // NMI to physical 1: no such APIC
        #expect(!rig.lapic.pendingEvents.contains(.nmi))
        rig.write(0x310, 0)
        rig.write(0x300, 0x0000_0400)  // NMI to ourselves
        #expect(rig.lapic.pendingEvents.contains(.nmi))
        rig.write(0x300, 0x0000_8500)  // INIT level de-assert: ignored
        #expect(!rig.lapic.pendingEvents.contains(.initSignal))
        rig.write(0x300, 0x0000_4500)  // INIT
        #expect(rig.lapic.pendingEvents.contains(.initSignal))
        rig.write(0x300, 0x0000_4609)  // SIPI, start page 9
        #expect(rig.lapic.takeStartup() == 9)
        #expect(rig.lapic.takeStartup() == nil)
        #expect(rig.lapic.takeINIT())
        #expect(rig.read(0xF0) == 0xFF && !rig.requested(0x40), "INIT resets the APIC")
        #expect(rig.lapic.readMSR(0x1B) == 0xFEE0_0900, "but keeps its base")
    }

    @Test func illegalVectorsAreRecordedNotDelivered() throws {
        let rig = try APICRig()
        rig.enable()
        rig.write(0x300, 0x0004_0005)  // self IPI with vector 5
        rig.lapic.receive(rig.fixed(0x0F))
        #expect(rig.lapic.pendingEvents.isEmpty)
        rig.write(0x280, 0)
        #expect(rig.read(0x280) == 0x60, "send and receive illegal vector")
        rig.write(0x370, 0x03)  // the error LVT itself has an illegal vector: no loop
        rig.lapic.receive(rig.fixed(0x01))
        rig.write(0x280, 0)
        #expect(rig.read(0x280) == 0x40)
    }

    @Test func icrWritesInALoopStayBounded() throws {
        let rig = try APICRig()
        rig.enable()
        for i in 0..<100_000 {
            rig.write(0x300, 0x0004_0000 | UInt32(0x20 + i % 0xD0))
        }
        #expect(rig.drain().count == 0xD0, "each vector once: the IRR is one bit per vector")
    }

    @Test func lowestPriorityGoesToOneAPIC() throws {
        let rig = try APICRig()
        rig.enable()
        let message = APICMessage(destination: 0x01, destinationMode: .logical, deliveryMode: .lowestPriority, vector: 0x55)
        #expect(rig.bus.deliver(message) == 1)
        #expect(rig.requested(0x55))
        #expect(rig.bus.deliver(rig.fixed(0x56, destination: 0x02, mode: .logical)) == 0)
        #expect(rig.bus.undeliverableCount == 1)
    }
}
