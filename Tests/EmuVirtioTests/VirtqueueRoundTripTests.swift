import EmuCore
import EmuVirtio
import EmuVirtioTesting
import Testing

@Suite("Virtqueue round trips through the test driver")
struct VirtqueueRoundTripTests {
    @Test(arguments: bothFormats, [false, true])
    func aChainCarriesBytesBothWays(format: VirtqueueFormat, indirect: Bool) throws {
        let f = try QueueFixture(format)
        let token = try f.driver.submit(DriverRequest(readable: [[1, 2, 3], [4, 5]], writableLengths: [2, 8], indirect: indirect))
        let element = try #require(try f.queue.pop())
        #expect(element.id == token)
        #expect(element.readable.map(\.length) == [3, 2])
        #expect(element.writable.map(\.length) == [2, 8])
        #expect(element.readableLength == 5 && element.writableLength == 10)
        #expect(try element.readBytes(from: f.memory) == [1, 2, 3, 4, 5])
        #expect(try element.readBytes(offset: 2, count: 2, from: f.memory) == [3, 4])
        try element.write([9, 8, 7, 6, 5, 4, 3], to: f.memory)  // crosses from the first writable buffer into the second
        try f.queue.push(element, writtenLength: 7)
        #expect(try f.queue.pop() == nil)
        let done = try f.driver.takeCompletions()
        #expect(done == [DriverCompletion(token: token, writtenLength: 7, written: [9, 8, 7, 6, 5, 4, 3])])
        #expect(f.driver.outstanding == 0 && f.queue.inFlight == 0)
    }

    @Test(arguments: bothFormats)
    func completionsMayComeBackInAnyOrder(format: VirtqueueFormat) throws {
        let f = try QueueFixture(format, size: 16)
        let tokens = try (0..<5).map { i in
            try f.driver.submit(DriverRequest(readable: [[UInt8(i)]], writableLengths: [4]))
        }
        var elements: [VirtqueueElement] = []
        while let e = try f.queue.pop() { elements.append(e) }
        #expect(elements.map(\.id) == tokens)
        for e in elements.reversed() {
            try e.write(try e.readBytes(from: f.memory), to: f.memory)
            try f.queue.push(e, writtenLength: 1)
        }
        let done = try f.driver.takeCompletions()
        #expect(done.map(\.token) == tokens.reversed())
        #expect(done.map(\.written) == (0..<5).reversed().map { [UInt8($0)] })
    }

    /// Many times round a small ring: split's 16-bit indices wrap past 65535, packed's wrap
    /// counters flip hundreds of times, and chains of several descriptors straddle the ring's end.
    @Test(arguments: bothFormats)
    func indicesAndWrapCountersSurviveManyLaps(format: VirtqueueFormat) throws {
        let f = try QueueFixture(format, size: 4)
        let rounds = format == .split ? 70_000 : 3_000
        for i in 0..<rounds {
            let byte = UInt8(truncatingIfNeeded: i)
            let parts = 1 + i % 3  // chains of 2 to 4 descriptors with the writable one
            let token = try f.driver.submit(DriverRequest(readable: Array(repeating: [byte], count: parts),
                                                          writableLengths: [parts]))
            #expect(try f.serveReversing() == 1)
            let done = try f.driver.takeCompletions()
            guard done.count == 1, done[0].token == token, done[0].written == Array(repeating: byte, count: parts) else {
                Issue.record("round \(i): \(done)")
                return
            }
        }
        #expect(f.queue.inFlight == 0 && f.driver.outstanding == 0)
    }

    @Test(arguments: bothFormats)
    func aCancelledRequestIsReturnedWithLengthZero(format: VirtqueueFormat) throws {
        let f = try QueueFixture(format)
        let token = try f.driver.submit(DriverRequest(readable: [[1]], writableLengths: [64]))
        let element = try #require(try f.queue.pop())
        try f.queue.push(element, writtenLength: 0)
        #expect(try f.driver.takeCompletions() == [DriverCompletion(token: token, writtenLength: 0, written: [])])
    }

    @Test(arguments: bothFormats)
    func hostMisuseIsAnErrorNotACorruptRing(format: VirtqueueFormat) throws {
        let f = try QueueFixture(format)
        _ = try f.driver.submit(DriverRequest(readable: [[1]], writableLengths: [4]))
        let element = try #require(try f.queue.pop())
        #expect(throws: VirtqueueError.usedLengthTooLong(id: element.id, length: 5, writable: 4)) {
            try f.queue.push(element, writtenLength: 5)
        }
        try f.queue.push(element, writtenLength: 4)
        #expect(throws: VirtqueueError.nothingInFlight) { try f.queue.push(element, writtenLength: 0) }
        #expect(try f.driver.takeCompletions().count == 1)
        #expect(f.queue.failure == nil)  // host errors do not break the queue
    }

    @Test(arguments: bothFormats)
    func chainAccessOutsideTheChainIsRefused(format: VirtqueueFormat) throws {
        let f = try QueueFixture(format)
        _ = try f.driver.submit(DriverRequest(readable: [[1, 2]], writableLengths: [3]))
        let e = try #require(try f.queue.pop())
        #expect(throws: ChainAccessError.outOfRange(offset: 1, count: 2, available: 2)) {
            try e.readBytes(offset: 1, count: 2, from: f.memory)
        }
        #expect(throws: ChainAccessError.outOfRange(offset: 0, count: 4, available: 3)) {
            try e.write([1, 2, 3, 4], to: f.memory)
        }
        #expect(throws: ChainAccessError.outOfRange(offset: UInt64.max, count: 1, available: 3)) {
            try e.write([1], offset: UInt64.max, to: f.memory)
        }
    }
}

@Suite("Virtqueue dirty tracking")
struct VirtqueueDirtyTrackingTests {
    /// The device writes the used ring through a long-lived mapping; migration must still see
    /// those pages change.
    @Test(arguments: bothFormats)
    func usedRingWritesMarkPagesDirty(format: VirtqueueFormat) throws {
        let f = try QueueFixture(format)
        let block = try #require(f.memory.slots.first?.block)
        block.startDirtyTracking(.migration)
        _ = block.testAndClearDirty(.migration)
        _ = try f.driver.submit(DriverRequest(readable: [[1]], writableLengths: [1]))
        _ = try f.driver.takeCompletions()
        _ = block.testAndClearDirty(.migration)  // the driver's own writes
        #expect(try f.serveReversing() == 1)
        let used = f.driver.configuration.deviceArea
        let ringPage = (format == .split ? used : f.driver.configuration.descriptorArea) & ~0xFFF
        #expect(block.isDirty(.migration, offset: ringPage, length: 4096))
        #expect(block.isDirty(.migration, offset: 0x80000, length: 4096) == false)
    }
}

/// A split queue made to resume a ring another device instance served (vhost-user reconnect).
@Suite("split virtqueue resume")
struct SplitVirtqueueResumeTests {
    @Test func aResumedQueueTakesTheNextChainAndContinuesTheUsedRing() throws {
        let f = try QueueFixture(.split)
        for byte: UInt8 in [1, 2, 3] { _ = try f.driver.submit(DriverRequest(readable: [[byte]], writableLengths: [1])) }
        // The first device instance serves two chains and goes away.
        for _ in 0..<2 {
            let e = try #require(try f.queue.pop())
            try f.queue.push(e, writtenLength: 0)
        }
        #expect(try f.driver.takeCompletions().count == 2)
        let used: UInt16 = try f.memory.load(at: f.driver.configuration.deviceArea + 2)
        #expect(used == 2)
        let resumed = try SplitVirtqueue(f.driver.configuration, memory: f.memory, resumingAt: 2, usedIndex: used)
        let third = try #require(try resumed.pop())
        #expect(try third.readBytes(from: f.memory) == [3])
        try third.write([0xEE], to: f.memory)
        try resumed.push(third, writtenLength: 1)
        #expect(try resumed.pop() == nil)
        let done = try f.driver.takeCompletions()
        #expect(done.map(\.written) == [[0xEE]])
    }
}
