import Testing
@testable import EmuCore

@Suite("IRQ lines")
struct IRQLineTests {
    @Test func levelLineReportsOnlyChanges() {
        let seen = Recorder<Bool>()
        let line = IRQLine(name: "l") { seen.append($0) }
        line.raise(); line.raise(); line.lower(); line.lower(); line.set(true)
        #expect(seen.all == [true, false, true])
        #expect(line.level)
        #expect(line.transitionCount == 3)
    }

    @Test func pulseAlwaysDeliversARisingEdge() {
        let seen = Recorder<Bool>()
        let line = IRQLine(name: "e") { seen.append($0) }
        line.pulse()
        #expect(seen.all == [true, false])
        line.raise()
        line.pulse()
        #expect(seen.all == [true, false, true, false, true, false])
        #expect(!line.level)
    }

    @Test func fanOutDrivesEveryOutput() {
        let a = Recorder<Bool>(), b = Recorder<Bool>()
        let pic = IRQLine(name: "pic") { a.append($0) }
        let ioapic = IRQLine(name: "ioapic") { b.append($0) }
        let pin = IRQLine.fanOut([pic, ioapic])
        pin.raise()
        pin.lower()
        #expect(a.all == [true, false])
        #expect(b.all == [true, false])
    }

    @Test func orGateIsHighWhileAnyInputIsHigh() {
        let out = Recorder<Bool>()
        let gate = IRQOrGate(inputCount: 2, output: IRQLine(name: "intx") { out.append($0) })
        let first = gate.input(0), second = gate.input(1)
        first.raise()
        second.raise()
        first.lower()
        #expect(gate.output.level, "the second input still holds it")
        second.lower()
        #expect(out.all == [true, false])
        let stray = gate.input(7)
        stray.raise()
        #expect(!gate.output.level, "an out-of-range input is unconnected")
    }
}

@Suite("Devices")
struct DeviceTests {
    final class FakeDevice: Device {
        let name: String
        let log: Recorder<String>
        init(_ name: String, log: Recorder<String>) { self.name = name; self.log = log }
        func reset(_ kind: ResetKind) { log.append("\(name):\(kind)") }
    }

    @Test func devicesResetInRegistrationOrderAndNamesAreUnique() throws {
        let log = Recorder<String>()
        let set = DeviceSet()
        try set.add(FakeDevice("rtc", log: log))
        try set.add(FakeDevice("serial0", log: log))
        do {
            try set.add(FakeDevice("rtc", log: log))
            Issue.record("a duplicate name was accepted")
        } catch {
            #expect(error == .duplicateName("rtc"))
        }
        set.reset(.cold)
        #expect(log.all == ["rtc:cold", "serial0:cold"])
        #expect(set.device(named: "serial0") != nil)
    }
}
