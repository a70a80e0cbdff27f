// emu-virtio-bench: virtqueue figures beside a memcpy of the same bytes, in one run.
// Usage: emu-virtio-bench [--quick]
//
// Each operation: the driver publishes one chain of N descriptors of 512 bytes (written straight
// into guest RAM, as a guest would), the device pops it, copies its readable bytes out, and pushes
// it back used. The peer copies the same bytes with memcpy: the ratio is what the ring costs.
// Then virtio-blk 4 KiB reads through the whole device path, beside the same reads issued to the
// block backend directly.
import BenchmarkSupport
import EmuCore
import EmuVirtio
import EmuVirtioTesting
#if canImport(Glibc)
import Glibc
#endif

let quick = CommandLine.arguments.contains("--quick")
let operations = quick ? 20_000 : 200_000
let segment = 512
let queueSize: UInt16 = 256
let ringAddress: UInt64 = 0x1000
let dataAddress: UInt64 = 0x40000

/// A guest whose driver side is plain stores into host memory, so only the device is measured.
struct Guest {
    let block: RAMBlock
    let memory: FlatGuestMemory
    init() throws {
        block = try RAMBlock(name: "bench", size: 1 << 20)
        memory = try FlatGuestMemory([.init(address: 0, block: block)])
    }
    func store<T: FixedWidthInteger>(_ value: T, at address: UInt64) {
        block.hostBase.storeBytes(of: value.littleEndian, toByteOffset: Int(address), as: T.self)
    }
}

/// `chain` readable descriptors of `segment` bytes each, published and consumed `count` times.
func splitRun(chain: Int, count: Int) throws -> () -> Void {
    let guest = try Guest()
    let driver = try SplitQueueDriver(memory: guest.memory, size: queueSize, ringAddress: ringAddress,
                                      dataArea: dataAddress..<(1 << 20))
    let config = driver.configuration
    for i in 0..<chain {  // one fixed chain at descriptors 0..<chain
        let at = ringAddress + 16 * UInt64(i)
        guest.store(dataAddress + UInt64(i * segment), at: at)
        guest.store(UInt32(segment), at: at + 8)
        guest.store(UInt16(i < chain - 1 ? 1 : 0), at: at + 12)
        guest.store(UInt16(i + 1), at: at + 14)
    }
    let queue = try SplitVirtqueue(config, memory: guest.memory)
    let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: chain * segment, alignment: 64)
    var avail: UInt16 = 0
    return {
        for _ in 0..<count {
            guest.store(UInt16(0), at: config.driverArea + 4 + 2 * UInt64(avail & (queueSize - 1)))
            avail &+= 1
            guest.store(avail, at: config.driverArea + 2)
            do {
                guard let element = try queue.pop() else { fatalError("benchmark: no chain") }
                try element.read(into: scratch, from: guest.memory)
                try queue.push(element, writtenLength: 0)
            } catch { fatalError("benchmark: \(error)") }
        }
    }
}

func packedRun(chain: Int, count: Int) throws -> () -> Void {
    let guest = try Guest()
    let driver = try PackedQueueDriver(memory: guest.memory, size: queueSize, ringAddress: ringAddress,
                                       dataArea: dataAddress..<(1 << 20))
    let queue = try PackedVirtqueue(driver.configuration, memory: guest.memory)
    let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: chain * segment, alignment: 64)
    var slot = 0
    var wrap = true
    return {
        for _ in 0..<count {
            // The driver writes every descriptor of the chain each time (that is the packed format).
            let head = (slot, wrap)
            for i in 0..<chain {
                let at = ringAddress + 16 * UInt64(slot)
                let flags = (i < chain - 1 ? VirtqueueDescriptorFlags.next : 0)
                    | (wrap ? VirtqueueDescriptorFlags.avail : VirtqueueDescriptorFlags.used)
                guest.store(dataAddress + UInt64(i * segment), at: at)
                guest.store(UInt32(segment), at: at + 8)
                guest.store(UInt16(0), at: at + 12)
                if i > 0 { guest.store(flags, at: at + 14) }
                slot += 1
                if slot == Int(queueSize) { slot = 0; wrap.toggle() }
            }
            let headFlags = (chain > 1 ? VirtqueueDescriptorFlags.next : 0)
                | (head.1 ? VirtqueueDescriptorFlags.avail : VirtqueueDescriptorFlags.used)
            guest.store(headFlags, at: ringAddress + 16 * UInt64(head.0) + 14)
            do {
                guard let element = try queue.pop() else { fatalError("benchmark: no chain") }
                try element.read(into: scratch, from: guest.memory)
                try queue.push(element, writtenLength: 0)
            } catch { fatalError("benchmark: \(error)") }
        }
    }
}

func memcpyRun(chain: Int, count: Int) -> () -> Void {
    let source = UnsafeMutableRawBufferPointer.allocate(byteCount: chain * segment, alignment: 64)
    let target = UnsafeMutableRawBufferPointer.allocate(byteCount: chain * segment, alignment: 64)
    source.initializeMemory(as: UInt8.self, repeating: 1)
    return {
        for _ in 0..<count {
            for i in 0..<chain {  // one copy per segment, as the device does
                memcpy(target.baseAddress! + i * segment, source.baseAddress! + i * segment, segment)
            }
            blackHole(target.baseAddress)
        }
    }
}

print("emu-virtio-bench (\(quick ? "quick" : "full") run): chains of N descriptors x \(segment) bytes;")
print("pop + copy out + push per chain, best of 5; ratio = ours / memcpy of the same bytes.\n")
do {
    for chain in [1, 4, 16] {
        let count = operations / chain
        let copy = measure("memcpy \(chain)x\(segment) B", operations: Double(count), repeats: 5, memcpyRun(chain: chain, count: count))
        for (name, run) in [("split", try splitRun(chain: chain, count: count)),
                            ("packed", try packedRun(chain: chain, count: count))] {
            report(measure("\(name) queue, chain of \(chain)", operations: Double(count), repeats: 5, run), against: copy)
        }
    }
    print("\nvirtio-blk on a RAM-backed node (one run; ratio = through the device / straight to the backend):")
    try await runBlockBenchmarks(requests: quick ? 5_000 : 50_000)
} catch {
    print("virtio benchmarks failed: \(error)")
    exit(1)
}
