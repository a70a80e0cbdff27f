import Testing
import Glibc
@testable import EmuCore

@Suite("RAMBlock")
struct RAMBlockTests {
    @Test func sizeIsRoundedUpToPagesAndZeroFilled() throws {
        let block = try RAMBlock(name: "t", size: 5000)
        #expect(block.size == 8192)
        #expect(block.pageCount == 2)
        #expect(block.fdOffset == 0)
        let bytes = UnsafeRawBufferPointer(start: block.hostBase, count: Int(block.size))
        #expect(bytes.allSatisfy { $0 == 0 })
    }

    @Test func invalidSizesThrowInsteadOfTrapping() {
        #expect(throws: RAMBlockError.invalidSize(0)) { try RAMBlock(name: "t", size: 0) }
        #expect(throws: RAMBlockError.invalidSize(.max)) { try RAMBlock(name: "t", size: .max) }
    }

    @Test func anotherBlockCanMapTheSameFdAtAnOffset() throws {
        let block = try RAMBlock(name: "guest", size: 3 * 4096)
        let mapped = try RAMBlock(name: "peer", mapping: dup(block.fd), offset: 4096, size: 8192)
        #expect(mapped.fdOffset == 4096 && mapped.size == 8192)
        block.hostBase.storeBytes(of: 0x5A, toByteOffset: 4096 + 17, as: UInt8.self)
        #expect(mapped.hostBase.load(fromByteOffset: 17, as: UInt8.self) == 0x5A)
        mapped.hostBase.storeBytes(of: 0xC3, toByteOffset: 8191, as: UInt8.self)
        #expect(block.hostBase.load(fromByteOffset: 3 * 4096 - 1, as: UInt8.self) == 0xC3)
        // Unaligned or empty ranges are refused (and the fd is closed), never mapped.
        #expect(throws: RAMBlockError.invalidSize(100)) { try RAMBlock(name: "p", mapping: dup(block.fd), offset: 0, size: 100) }
        #expect(throws: RAMBlockError.invalidSize(4096)) { try RAMBlock(name: "p", mapping: dup(block.fd), offset: 1, size: 4096) }
        #expect(throws: RAMBlockError.self) { try RAMBlock(name: "p", mapping: -1, offset: 0, size: 4096) }
        // A range past the fd's end would fault when touched: refused.
        #expect(throws: RAMBlockError.outOfBounds(offset: 8192, length: 8192)) {
            try RAMBlock(name: "p", mapping: dup(block.fd), offset: 8192, size: 8192)
        }
    }

    @Test func fdIsARealMemfdSharingTheBytes() throws {
        let block = try RAMBlock(name: "shared", size: 4096)
        block.hostBase.storeBytes(of: 0xA5, toByteOffset: 100, as: UInt8.self)
        var byte: UInt8 = 0
        #expect(pread(block.fd, &byte, 1, 100) == 1)
        #expect(byte == 0xA5)
        var st = stat()
        #expect(fstat(block.fd, &st) == 0)
        #expect(UInt64(st.st_size) == block.size)
    }

    @Test func hostAccessIsBoundsChecked() throws {
        let block = try RAMBlock(name: "t", size: 4096)
        try [UInt8](arrayLiteral: 1, 2, 3).withUnsafeBytes { try block.hostWrite($0, at: 4093) }
        #expect(throws: RAMBlockError.outOfBounds(offset: 4094, length: 3)) {
            try [UInt8](arrayLiteral: 1, 2, 3).withUnsafeBytes { try block.hostWrite($0, at: 4094) }
        }
        #expect(throws: RAMBlockError.outOfBounds(offset: .max, length: 3)) {
            try [UInt8](arrayLiteral: 1, 2, 3).withUnsafeBytes { try block.hostWrite($0, at: .max) }
        }
    }
}
