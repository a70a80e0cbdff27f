// libFuzzer target for virtqueue chain parsing (EmuVirtio/Queue), split and packed. Run it with
// `scripts/fuzz-virtqueue [SECONDS]`, which explains how it is built.
//
// One input is a hostile driver: a header, an image of guest memory and a script of later driver
// writes.
//
//   byte 0      bit 0 packed, bit 1 VIRTIO_F_EVENT_IDX, bit 2 VIRTIO_F_INDIRECT_DESC,
//               bit 3 take the queue size from bytes 1-2 as is (else 1 << (byte 1 % 7)),
//               bit 4 move the rings to the edge of RAM (byte 3 picks where)
//   bytes 1-2   queue size
//   byte 3      device policy: which in-flight element to push and how long a reply to claim
//   bytes 4-5   image length L; then L bytes copied into guest RAM at the rings (0x1000)
//   the rest    the script: 4-byte writes (offset into RAM, 16-bit value) the driver makes
//               whenever the device finds the ring empty, e.g. a new avail index
//
// Guest RAM is two blocks with a hole between them (0x0-0x8000, 0x9000-0xA000), so chains can
// point at the hole, past the end and at 2^64. The device pops, copies in and out of the chains,
// and pushes elements back in a scrambled order, for at most 256 steps. Properties:
//
// - nothing traps, and ASan sees no access outside the process's own allocations;
// - once `pop` throws, the queue is broken: `failure` is that error and every later pop and push
//   throws it again;
// - an element's byte totals are the sums of its buffers, no buffer wraps past 2^64, and it has
//   at most size + 1024 buffers;
// - `inFlight` is pops minus pushes; a push that claims more than the writable bytes is refused
//   with `usedLengthTooLong` and leaves the queue working;
// - split: after each push the used index in guest memory is the number of pushes (mod 2^16).
//
// Thrown errors are expected; a trap (fatalError below or in the library), an ASan report or a
// hang is a bug.

#if canImport(Glibc)
import Glibc
#endif
import EmuCore
import EmuVirtio
import EmuVirtioTesting

// MARK: - The session

/// Where guest RAM and the rings are.
enum Layout {
    static let low: UInt64 = 0x0, lowSize: UInt64 = 0x8000
    static let high: UInt64 = 0x9000, highSize: UInt64 = 0x1000
    static let rings: UInt64 = 0x1000

    /// The queue areas for `size` at `base`, as the test kit's drivers lay them out.
    static func configuration(_ format: VirtqueueFormat, size: UInt16, base: UInt64, eventIndex: Bool,
                              indirect: Bool) -> VirtqueueConfiguration {
        let n = UInt64(size)
        let ringEnd = base &+ 16 &* n
        let deviceArea = format == .split ? (ringEnd &+ 6 &+ 2 &* n &+ 3) & ~3 : ringEnd &+ 4
        return VirtqueueConfiguration(format: format, size: size, descriptorArea: base, driverArea: ringEnd,
                                      deviceArea: deviceArea, eventIndex: eventIndex, indirectDescriptors: indirect)
    }
}

/// Reads the input front to back; missing bytes read as zero.
struct InputReader {
    let bytes: [UInt8]
    var position = 0
    mutating func byte() -> UInt8 {
        defer { position += 1 }
        return position < bytes.count ? bytes[position] : 0
    }
    mutating func u16() -> UInt16 { UInt16(byte()) | UInt16(byte()) << 8 }
    mutating func take(_ n: Int) -> ArraySlice<UInt8> {
        let start = min(position, bytes.count), end = min(position + n, bytes.count)
        position = end
        return bytes[start..<end]
    }
    var exhausted: Bool { position >= bytes.count }
}

func fuzzOne(_ input: [UInt8]) {
    var reader = InputReader(bytes: input)
    let mode = reader.byte()
    let format: VirtqueueFormat = mode & 1 != 0 ? .packed : .split
    let sizeField = reader.u16()
    let size: UInt16 = mode & 8 != 0 ? sizeField : 1 << (UInt16(sizeField & 0xFF) % 7)
    var policy = UInt64(reader.byte()) &* 0x9E37_79B9_7F4A_7C15 | 1
    let base: UInt64 = mode & 16 != 0 ? Layout.lowSize - 16 * UInt64(policy % 64) : Layout.rings
    let imageLength = Int(reader.u16())
    let image = Array(reader.take(imageLength))

    let memory: FlatGuestMemory
    do {
        memory = try FlatGuestMemory([
            .init(address: Layout.low, block: RAMBlock(name: "fuzz-low", size: Layout.lowSize)),
            .init(address: Layout.high, block: RAMBlock(name: "fuzz-high", size: Layout.highSize)),
        ])
        if !image.isEmpty { try memory.write(Array(image.prefix(Int(Layout.lowSize - Layout.rings))), at: Layout.rings) }
    } catch {
        fatalError("harness set-up failed: \(error)")
    }
    let configuration = Layout.configuration(format, size: size, base: base, eventIndex: mode & 2 != 0, indirect: mode & 4 != 0)
    let queue: any Virtqueue
    do {
        queue = try makeVirtqueue(configuration, memory: memory)
    } catch {
        _ = error.description  // a refused configuration is a fine outcome
        return
    }

    var inFlight: [VirtqueueElement] = []
    var pushes = 0
    for _ in 0..<256 {
        policy = policy &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        let element: VirtqueueElement?
        do {
            element = try queue.pop()
        } catch {
            checkBroken(queue, by: error)
            return
        }
        if let element {
            checkShape(element, size: size)
            inFlight.append(element)
            exerciseAccess(element, memory: memory, policy: policy)
        } else if reader.exhausted && inFlight.isEmpty {
            break
        } else if !reader.exhausted {
            // The driver adds to the ring (or scribbles on it) after seeing the device idle.
            let offset = UInt64(reader.u16()) % (Layout.lowSize - 2)
            let value = reader.u16()
            try? memory.write([UInt8(value & 0xFF), UInt8(value >> 8)], at: offset)
        }
        check(queue.inFlight == inFlight.count, "inFlight \(queue.inFlight), expected \(inFlight.count)")
        // Push one in-flight element back now and then, in a scrambled order.
        if !inFlight.isEmpty, policy >> 60 < 10 {
            let index = Int((policy >> 16) % UInt64(inFlight.count))
            let element = inFlight[index]
            let overclaim = policy >> 58 == 0
            let claimed = overclaim ? UInt32(clamping: element.writableLength + 1)
                                    : UInt32(clamping: element.writableLength / UInt64((policy >> 8) % 3 + 1))
            do {
                try queue.push(element, writtenLength: claimed)
                check(!overclaim || element.writableLength >= UInt64(UInt32.max), "an overlong used length was accepted")
                inFlight.remove(at: index)
                pushes += 1
                if format == .split, queue.failure == nil {
                    let usedIndex = (try? memory.read(count: 2, at: configuration.deviceArea + 2)).map { UInt16($0[0]) | UInt16($0[1]) << 8 }
                    check(usedIndex == UInt16(truncatingIfNeeded: pushes), "used index \(String(describing: usedIndex)) after \(pushes) pushes")
                }
            } catch {
                if case .usedLengthTooLong = error {
                    check(overclaim, "a used length within the writable bytes was refused")
                    check(queue.failure == nil, "refusing an overlong used length broke the queue")
                } else {
                    fatalError("push failed unexpectedly: \(error)")
                }
            }
            if policy & 0x100 != 0 { _ = queue.shouldInterrupt() }
            if policy & 0x200 != 0 { queue.disableNotifications() } else if policy & 0x400 != 0 { _ = queue.enableNotifications() }
        }
    }
}

/// A queue that threw stays broken with that error.
func checkBroken(_ queue: any Virtqueue, by error: VirtqueueError) {
    _ = error.description
    check(queue.failure == error, "pop threw \(error) but failure is \(String(describing: queue.failure))")
    do {
        _ = try queue.pop()
        fatalError("a broken queue popped again after \(error)")
    } catch {
        check(error == queue.failure, "a broken queue threw \(error), not its failure")
    }
}

/// An element's totals add up, its buffers do not wrap, and it is not longer than the rules allow.
func checkShape(_ element: VirtqueueElement, size: UInt16) {
    var readable: UInt64 = 0, writable: UInt64 = 0
    for buffer in element.readable {
        check(buffer.length > 0 && !lastByteWraps(buffer), "readable buffer is empty or wraps past 2^64")
        readable += UInt64(buffer.length)
    }
    for buffer in element.writable {
        check(buffer.length > 0 && !lastByteWraps(buffer), "writable buffer is empty or wraps past 2^64")
        writable += UInt64(buffer.length)
    }
    check(readable == element.readableLength && writable == element.writableLength, "element totals disagree with its buffers")
    check(element.readable.count + element.writable.count <= Int(size) + VirtqueueConfiguration.maximumIndirectDescriptors,
          "element has \(element.readable.count + element.writable.count) buffers")
}

/// Whether a buffer's last byte lies beyond 2^64 - 1 (ending exactly at 2^64 is allowed).
func lastByteWraps(_ buffer: GuestBuffer) -> Bool {
    buffer.address.addingReportingOverflow(UInt64(buffer.length) - 1).overflow
}

/// Copies out of and into the chain as a device would, with bounded sizes; memory errors are fine.
func exerciseAccess(_ element: VirtqueueElement, memory: FlatGuestMemory, policy: UInt64) {
    let count = Int(min(element.readableLength, 4096))
    do {
        let bytes = try element.readBytes(count: count, from: memory)
        check(bytes.count == count, "readBytes returned \(bytes.count) of \(count)")
    } catch {
        _ = error.description
    }
    let reply = [UInt8](repeating: UInt8(truncatingIfNeeded: policy), count: Int(min(element.writableLength, 4096)))
    do { try element.write(reply, to: memory) } catch { _ = error.description }
    // An offset past the end must be refused, not wrap.
    do {
        _ = try element.readBytes(offset: UInt64.max, count: 1, from: memory)
        fatalError("a read at offset 2^64-1 was accepted")
    } catch {}
}

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("property violated: \(message())") }
}

// MARK: - Seeds: well-formed rings written by the test kit's drivers

/// Inputs that start from valid rings, so the fuzzer mutates real chains: both formats, direct and
/// indirect chains, with and without EVENT_IDX, plus a script that bumps the avail index.
func seedInputs() -> [(String, [UInt8])] {
    var seeds: [(String, [UInt8])] = []
    for format in [VirtqueueFormat.split, .packed] {
        for (eventIndex, indirect) in [(false, false), (true, true), (false, true)] {
            let size: UInt16 = 8
            do {
                let memory = try FlatGuestMemory(size: Layout.lowSize)
                let dataArea = 0x1400..<Layout.lowSize
                let driver: any VirtqueueDriver = format == .split
                    ? try SplitQueueDriver(memory: memory, size: size, ringAddress: Layout.rings, dataArea: dataArea,
                                           eventIndex: eventIndex, indirectDescriptors: indirect)
                    : try PackedQueueDriver(memory: memory, size: size, ringAddress: Layout.rings, dataArea: dataArea,
                                            eventIndex: eventIndex, indirectDescriptors: indirect)
                let expected = Layout.configuration(format, size: size, base: Layout.rings, eventIndex: eventIndex, indirect: indirect)
                check(driver.configuration == expected, "the harness's ring layout differs from the test kit's")
                _ = try driver.submit(DriverRequest(readable: [[1, 2, 3, 4]], writableLengths: [16]))
                _ = try driver.submit(DriverRequest(readable: [[5, 6], [7]], writableLengths: [8, 8], indirect: indirect))
                _ = try driver.submit(DriverRequest(writableLengths: [64]))
                let image = try memory.read(count: 0x800, at: Layout.rings)
                let mode: UInt8 = (format == .packed ? 1 : 0) | (eventIndex ? 2 : 0) | (indirect ? 4 : 0)
                var input: [UInt8] = [mode, 3, 0, 0x5A, UInt8(image.count & 0xFF), UInt8(image.count >> 8)] + image
                if format == .split {  // the driver then claims two more heads
                    let availIndex = UInt16(expected.driverArea + 2)
                    input += [UInt8(availIndex & 0xFF), UInt8(availIndex >> 8), 5, 0]
                }
                seeds.append(("\(format)-\(eventIndex ? "event" : "flags")-\(indirect ? "indirect" : "direct")", input))
            } catch {
                fatalError("seed generation failed: \(error)")
            }
        }
    }
    return seeds
}

// MARK: - For the shared entry points (Fuzz/Shared)

/// Asks for the seeds to be written (`scripts/fuzz-… --write-seeds`).
let seedCorpusVariable = "VIRTQUEUE_FUZZ_WRITE_SEEDS"
