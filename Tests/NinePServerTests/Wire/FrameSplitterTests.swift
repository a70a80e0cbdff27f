import Testing
@testable import NinePServer

@Suite("Frame splitter")
struct FrameSplitterTests {
    let first = Fixtures.hex("15 00 00 00 64 ff ff 00 20 00 00 08 00 39 50 32 30 30 30 2e 4c")
    let second = Fixtures.hex("0b 00 00 00 78 01 00 05 00 00 00")

    @Test func partialFrames() throws {
        for cut in 0..<first.count {
            #expect(try NineP.frameLength(in: first.prefix(cut), msize: 8192) == nil)
        }
        #expect(try NineP.frameLength(in: first, msize: 8192) == 21)
        #expect(try NineP.frameLength(in: first + [1, 2, 3], msize: 8192) == 21)
    }

    @Test func byteByByte() throws {
        var splitter = FrameSplitter(msize: 8192)
        var frames: [[UInt8]] = []
        for byte in first + second {
            splitter.append([byte])
            while let frame = try splitter.nextFrame() { frames.append(frame) }
        }
        #expect(frames == [first, second])
        #expect(splitter.bufferedCount == 0)
    }

    @Test func twoFramesInOneBuffer() throws {
        var splitter = FrameSplitter(msize: 8192)
        splitter.append(first + second + second.prefix(3))
        #expect(try splitter.nextFrame() == first)
        #expect(try splitter.nextFrame() == second)
        #expect(try splitter.nextFrame() == nil)
        #expect(splitter.bufferedCount == 3)
        splitter.append(second.dropFirst(3))
        #expect(try splitter.nextFrame() == second)
        #expect(try NineP.decodeRequest(second, msize: 8192).message == .clunk(fid: 5))
    }

    @Test func hostileSizesAreRefusedAsSoonAsTheSizeArrives() {
        for (size, expected) in [(UInt32.max, NinePWireError.messageTooLarge(size: .max, msize: 8192)),
                                 (8193, .messageTooLarge(size: 8193, msize: 8192)),
                                 (6, .messageTooSmall(size: 6)),
                                 (0, .messageTooSmall(size: 0))] {
            var splitter = FrameSplitter(msize: 8192)
            splitter.append(Fixtures.le32(size))
            do {
                _ = try splitter.nextFrame()
                Issue.record("size \(size) accepted")
            } catch {
                #expect(error == expected)
            }
        }
    }

    @Test func msizeCanBeLoweredAfterNegotiation() throws {
        var splitter = FrameSplitter(msize: 65536)
        splitter.msize = 20
        splitter.append(first)
        do {
            _ = try splitter.nextFrame()
            Issue.record("oversize frame accepted")
        } catch {
            #expect(error == .messageTooLarge(size: 21, msize: 20))
        }
    }

    @Test func manyFramesKeepTheBufferBounded() throws {
        var splitter = FrameSplitter(msize: 8192)
        var count = 0
        for _ in 0..<1000 {
            splitter.append(second + second.prefix(5))
            while let frame = try splitter.nextFrame() { #expect(frame == second); count += 1 }
            splitter.append(second.dropFirst(5))
            while let frame = try splitter.nextFrame() { #expect(frame == second); count += 1 }
        }
        #expect(count == 2000)
        #expect(splitter.bufferedCount == 0)
    }
}
