import Testing
@testable import EmuLinuxUser

@Suite struct PendingSignalSetTests {
    func instance(_ signal: Int32, value: UInt64 = 0) -> QueuedSignal {
        QueuedSignal(signal: signal, code: QueuedSignal.SI_QUEUE, sender: 7, value: value)
    }

    @Test func standardSignalsCoalesceAndRealTimeOnesQueueInOrder() {
        var set = PendingSignalSet()
        let first = set.add(instance(10, value: 1)), second = set.add(instance(10, value: 2))
        #expect(first && !second, "a second SIGUSR1 merges into the first")
        var queued: [Bool] = []
        for v in 1...3 { queued.append(set.add(instance(40, value: UInt64(v)))) }
        #expect(queued == [true, true, true])
        #expect(set.count(of: 10) == 1 && set.count(of: 40) == 3)
        #expect(set.mask == (1 << 9) | (1 << 39))
        let usr1 = set.take(10)
        #expect(usr1?.value == 1, "the first one's siginfo is kept")
        #expect(!set.contains(10))
        let a = set.take(40), b = set.take(40)
        #expect(a?.value == 1 && b?.value == 2)
        #expect(set.contains(40), "one instance is still queued")
        let c = set.take(40), none = set.take(40)
        #expect(c?.value == 3 && set.isEmpty && none == nil)
    }

    @Test func discardRemovesEveryInstanceAndTheQueueIsBounded() {
        var set = PendingSignalSet()
        for v in 0..<5 { set.add(instance(35, value: UInt64(v))) }
        set.add(instance(2))
        set.discard(35)
        #expect(set.mask == 1 << 1 && set.count(of: 35) == 0)
        set.removeAll()
        var accepted = 0
        for v in 0..<PendingSignalSet.capacity where set.add(instance(50, value: UInt64(v))) { accepted += 1 }
        #expect(accepted == PendingSignalSet.capacity)
        let beyond = set.add(instance(51))
        #expect(!beyond, "a real-time signal beyond the capacity is refused")
        #expect(!set.hasRoom)
        let zero = set.add(instance(0)), high = set.add(instance(65))
        #expect(!zero && !high, "no such signals")
    }

    @Test func theNextSignalIsASynchronousOneThenTheLowest() {
        var set = PendingSignalSet()
        set.add(instance(40))
        set.add(instance(15))
        set.add(instance(11))
        set.add(instance(2))
        #expect(set.next(in: ~0) == 11, "SIGSEGV goes first")
        #expect(set.next(in: ~(1 << 10)) == 2)
        #expect(set.next(in: 1 << 39) == 40)
        #expect(set.next(in: 1 << 20) == nil)
    }

    @Test func aSharedQueueMirrorsItsMaskAndRefusesWhenFull() {
        let queue = SignalQueue()
        #expect(queue.post(instance(12)) && queue.post(instance(12)), "a merged standard signal is no failure")
        #expect(queue.mask == 1 << 11 && queue.count(of: 12) == 1)
        #expect(queue.take(12) != nil && queue.mask == 0 && queue.take(12) == nil)
        for v in 0..<PendingSignalSet.capacity { queue.post(instance(60, value: UInt64(v))) }
        #expect(!queue.post(instance(61)), "EAGAIN for a real-time signal when full")
        let all = queue.drain()
        #expect(all.count == PendingSignalSet.capacity && all.first?.value == 0 && queue.mask == 0)
    }

    @Test func siginfoRoundTrips() {
        let original = QueuedSignal(signal: 36, code: QueuedSignal.SI_QUEUE, sender: 0x0000_03E8_0000_1234, value: 0xDEAD_BEEF)
        let bytes = original.siginfo
        #expect(bytes.count == 128 && bytes[0] == 36 && bytes[8] == 0xFF && bytes[16] == 0x34)
        #expect(QueuedSignal(siginfo: bytes, signal: 36) == original)
    }
}
