import BenchmarkSupport
import CEmuSystem
import CGLib
import EmuCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Bottom halves per second and fd wake-ups per second, each beside the same work done with
/// the plain library (raw GLib idle sources; raw eventfd + poll threads).
func runLoopBenchmarks(scale: Double) {
    print("Event loop")
    let bhCount = Int(500_000 * scale)

    // A bottom half that reschedules itself: one dispatch per loop iteration.
    let loop = EventLoop(name: "bench")
    let ours = measure("bottom half, self-rescheduling", operations: Double(bhCount)) {
        let remaining = Atomic<Int>(bhCount)
        let holder = BHHolder()
        holder.bh = loop.makeBottomHalf {
            if remaining.subtract(1, ordering: .relaxed).newValue > 0 { holder.bh?.schedule() }
        }
        holder.bh?.schedule()
        while remaining.load(ordering: .relaxed) > 0 { loop.iterate(blocking: true) }
        holder.bh = nil
    }
    let glib = measure("raw GLib idle source", operations: Double(bhCount)) {
        rawGLibIdle(count: bhCount)
    }
    report(ours, against: glib)

    // Batches of one-shot work submitted at once (a device completing many requests).
    let batched = measure("submit(), batches of 1000", operations: Double(bhCount)) {
        var left = bhCount
        while left > 0 {
            for _ in 0..<1000 { loop.submit {} }
            left -= 1000
            loop.iterate()
        }
    }
    report(batched, against: glib)

    // fd wake-ups: two IOThreads bounce a signal through two eventfd notifiers.
    let roundTrips = Int(50_000 * scale)
    let pingPong = measure("fd wake-up (eventfd ping-pong, 2 loops)", operations: Double(roundTrips * 2),
                           repeats: 3) {
        notifierPingPong(roundTrips: roundTrips)
    }
    let rawPingPong = measure("raw eventfd+poll ping-pong threads", operations: Double(roundTrips * 2),
                              repeats: 3) {
        rawEventfdPingPong(roundTrips: roundTrips)
    }
    report(pingPong, against: rawPingPong)
}

private final class BHHolder: @unchecked Sendable {
    // Benchmark-only: written before the loop runs and read on the single loop thread.
    var bh: BottomHalf?
}

private func notifierPingPong(roundTrips: Int) {
    guard let a = try? IOThread(name: "ping"), let b = try? IOThread(name: "pong"),
          let toA = try? EventNotifier(), let toB = try? EventNotifier() else {
        print("  cannot create threads or eventfds"); return
    }
    let done = Atomic<Int>(0)
    let finished = Atomic<Bool>(false)
    let ha = a.loop.addHandler(notifier: toA) {
        if done.add(1, ordering: .relaxed).newValue >= roundTrips {
            finished.store(true, ordering: .releasing)
        } else {
            toB.notify()
        }
    }
    let hb = b.loop.addHandler(notifier: toB) { toA.notify() }
    toB.notify()
    while !finished.load(ordering: .acquiring) { sched_yield() }
    ha.remove(); hb.remove()
    a.stop(); b.stop()
}

/// The same bounce with no loop at all: two threads, blocking poll(2), read, write.
private func rawEventfdPingPong(roundTrips: Int) {
    let toA = emu_eventfd(0), toB = emu_eventfd(0)
    defer { close(toA); close(toB) }
    func bounce(wait fd: Int32, signal other: Int32, count: Int, first: Bool) {
        var value: UInt64 = 1
        if first { _ = write(other, &value, 8) }
        for i in 0..<count {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            while poll(&pfd, 1, -1) <= 0 {}
            _ = read(fd, &value, 8)
            value = 1
            if !(first && i == count - 1) { _ = write(other, &value, 8) }
        }
    }
    let thread = Thread2 { bounce(wait: toB, signal: toA, count: roundTrips, first: false) }
    bounce(wait: toA, signal: toB, count: roundTrips, first: true)
    thread.join()
}

/// A joinable host thread for the raw baselines.
final class Thread2 {
    private var tid = pthread_t()
    init(_ body: @escaping () -> Void) {
        let box = Unmanaged.passRetained(Body(body)).toOpaque()
        pthread_create(&tid, nil, { arg in
            Unmanaged<Body>.fromOpaque(arg!).takeRetainedValue().run()
            return nil
        }, box)
    }
    func join() { pthread_join(tid, nil) }
    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }
}

/// An idle source that re-runs `count` times on a private context: GLib's own cost per dispatch.
private func rawGLibIdle(count: Int) {
    let context = g_main_context_new()
    defer { g_main_context_unref(context) }
    var remaining = count
    let source = g_idle_source_new()
    withUnsafeMutablePointer(to: &remaining) { pointer in
        g_source_set_callback(source, { data in
            let remaining = data!.assumingMemoryBound(to: Int.self)
            remaining.pointee -= 1
            return remaining.pointee > 0 ? 1 : 0
        }, pointer, nil)
        g_source_attach(source, context)
        while pointer.pointee > 0 { g_main_context_iteration(context, 1) }
    }
    g_source_unref(source)
}
