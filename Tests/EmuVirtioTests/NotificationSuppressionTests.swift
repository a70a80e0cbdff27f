import EmuCore
import EmuVirtio
import EmuVirtioTesting
import Testing

/// Notification (kick) and interrupt suppression, with and without VIRTIO_F_EVENT_IDX, as the
/// driver side of the test kit sees it.
@Suite("Notification and interrupt suppression")
struct NotificationSuppressionTests {
    @Test(arguments: bothFormats, [false, true])
    func theDriverKicksOnlyWhileTheDeviceAsks(format: VirtqueueFormat, eventIndex: Bool) throws {
        let f = try QueueFixture(format, eventIndex: eventIndex)
        _ = try f.driver.submit(DriverRequest(readable: [[1]]))
        #expect(try f.driver.deviceWantsNotification())  // a fresh queue asks for kicks
        f.queue.disableNotifications()
        #expect(try f.serveReversing() == 1)
        _ = try f.driver.submit(DriverRequest(readable: [[2]]))
        #expect(try f.driver.deviceWantsNotification() == false)
        // Re-enabling reports the buffer that arrived unannounced, so it is not stranded.
        #expect(f.queue.enableNotifications() == true)
        #expect(try f.serveReversing() == 1)
        #expect(f.queue.enableNotifications() == false)
        _ = try f.driver.submit(DriverRequest(readable: [[3]]))
        #expect(try f.driver.deviceWantsNotification())
    }

    @Test(arguments: bothFormats, [false, true])
    func interruptsFollowTheDriversHint(format: VirtqueueFormat, eventIndex: Bool) throws {
        let f = try QueueFixture(format, eventIndex: eventIndex)
        #expect(f.queue.shouldInterrupt() == false)  // nothing pushed
        _ = try f.driver.submit(DriverRequest(readable: [[1]]))
        _ = try f.serveReversing()
        #expect(f.queue.shouldInterrupt())
        #expect(f.queue.shouldInterrupt() == false)  // nothing new since
        try f.driver.suppressInterrupts(true)
        _ = try f.driver.submit(DriverRequest(readable: [[2]]))
        _ = try f.serveReversing()
        #expect(f.queue.shouldInterrupt() == false)
        try f.driver.suppressInterrupts(false)
        if eventIndex, format == .split {
            // used_event still 0: the driver asked for one interrupt at index 0, already passed.
            _ = try f.driver.submit(DriverRequest(readable: [[3]]))
            _ = try f.serveReversing()
            #expect(f.queue.shouldInterrupt() == false)
        }
        #expect(try f.driver.takeCompletions().count >= 2)
    }

    @Test func splitUsedEventAsksForAnInterruptAtOneIndex() throws {
        let f = try QueueFixture(.split, eventIndex: true)
        let d = try f.split
        try d.setUsedEvent(2)  // interrupt when used entry 2 (the third) is written
        var interrupts: [Bool] = []
        for i in 0..<5 {
            _ = try d.submit(DriverRequest(readable: [[UInt8(i)]]))
            _ = try f.serveReversing()
            interrupts.append(f.queue.shouldInterrupt())
        }
        #expect(interrupts == [false, false, true, false, false])
        // Several pushes between checks: one interrupt if the event index lies among them.
        try d.setUsedEvent(6)
        for i in 0..<3 { _ = try d.submit(DriverRequest(readable: [[UInt8(i)]])) }
        _ = try f.serveReversing()
        #expect(f.queue.shouldInterrupt())
    }

    @Test func packedDriverEventAsksForAnInterruptAtOneSlot() throws {
        let f = try QueueFixture(.packed, size: 4, eventIndex: true)
        let d = try f.packed
        try d.setDriverEvent(slot: 1, wrap: false)  // slot 1 of the second lap
        var interrupts: [Bool] = []
        for i in 0..<8 {
            _ = try d.submit(DriverRequest(readable: [[UInt8(i)]]))
            _ = try f.serveReversing()
            interrupts.append(f.queue.shouldInterrupt())
            _ = try d.takeCompletions()
        }
        #expect(interrupts == [false, false, false, false, false, true, false, false])
    }

    @Test func splitAvailEventFollowsPopsWhileNotificationsAreOn() throws {
        let f = try QueueFixture(.split, eventIndex: true)
        let d = try f.split
        for i in 0..<3 { _ = try d.submit(DriverRequest(readable: [[UInt8(i)]])) }
        #expect(try d.deviceWantsNotification())
        _ = try f.serveReversing()
        _ = try d.submit(DriverRequest(readable: [[9]]))
        #expect(try d.deviceWantsNotification())  // avail_event = 3: the fourth buffer must kick
        _ = try d.submit(DriverRequest(readable: [[10]]))
        #expect(try d.deviceWantsNotification() == false)  // already kicked for index 3, not popped yet
    }
}
