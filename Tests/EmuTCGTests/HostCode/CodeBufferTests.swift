import Foundation
import Testing
@testable import EmuTCG

@Suite struct CodeBufferTests {
    /// /proc/self/maps, read to its end (its size is reported as zero).
    static func maps() throws -> String {
        let handle = try #require(FileHandle(forReadingAtPath: "/proc/self/maps"))
        defer { try? handle.close() }
        var data = Data()
        while let chunk = try handle.read(upToCount: 65536), !chunk.isEmpty { data.append(chunk) }
        return String(decoding: data, as: UTF8.self)
    }

    /// Mappings of this process that are writable and executable at once, other than
    /// anonymous private ones (the test harness runs instructions natively from such a page;
    /// a code buffer is a shared memfd mapping, never one of those).
    static func writableExecutableMappings() throws -> [String] {
        try maps().split(separator: "\n").map(String.init).filter { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            let perms = fields.count > 1 ? String(fields[1]) : ""
            let anonymousPrivate = fields.count <= 5 && perms.hasSuffix("p")
            return perms.hasPrefix("rwx") && !anonymousPrivate
        }
    }

    @Test func codeWrittenThroughOneViewRunsThroughTheOther() throws {
        let buffer = try CodeBuffer(capacity: 1 << 16)
        // mov eax, edi; add eax, 42; ret
        var a = X86Assembler()
        a.mov(.rax, .rdi, size: 4)
        a.alu(.add, .rax, immediate: 42, size: 4)
        a.ret()
        let finished = a.finish()
        let code = try #require(finished)
        let offset = try #require(buffer.append(code))
        typealias Function = @convention(c) (UInt32) -> UInt32
        let f = unsafeBitCast(buffer.address(of: offset), to: Function.self)
        #expect(f(100) == 142)
        #expect(f(0xFFFF_FFFF) == 41)
        // The writable view holds the same bytes; nothing is writable and executable.
        #expect(buffer.writable.load(fromByteOffset: offset, as: UInt8.self) == code[0])
        #expect(try Self.writableExecutableMappings().isEmpty)
        let maps = try Self.maps()
        let executableView = String(UInt(bitPattern: buffer.executable), radix: 16)
        let views = maps.split(separator: "\n").filter { $0.contains("emu-tcg-code") }
        let line = views.first { $0.hasPrefix(executableView + "-") }
        #expect(line?.split(separator: " ").dropFirst().first == "r-xs", "\(executableView): \(views)")
        let writableView = String(UInt(bitPattern: buffer.writable), radix: 16)
        let writableLine = views.first { $0.hasPrefix(writableView + "-") }
        #expect(writableLine?.split(separator: " ").dropFirst().first == "rw-s", "\(writableView): \(views)")
    }

    @Test func patchingThroughTheWritableViewChangesWhatRuns() throws {
        let buffer = try CodeBuffer(capacity: 4096)
        var a = X86Assembler()
        a.movImmediate(.rax, 7)
        a.ret()
        let finished = a.finish()
        let program = try #require(finished)
        let offset = try #require(buffer.append(program))
        typealias Function = @convention(c) () -> UInt64
        let f = unsafeBitCast(buffer.address(of: offset), to: Function.self)
        #expect(f() == 7)
        buffer.patch(at: offset + 1, [9, 0, 0, 0])
        #expect(f() == 9)
    }

    @Test func aFullBufferRefusesAndResetEmptiesIt() throws {
        let buffer = try CodeBuffer(capacity: 4096)
        #expect(buffer.capacity == 4096)
        let first = buffer.append([UInt8](repeating: 0xC3, count: 3000))
        #expect(first == 0)
        #expect(buffer.append([UInt8](repeating: 0xC3, count: 2000)) == nil)
        buffer.reset()
        #expect(buffer.used == 0 && buffer.flushes == 1)
        #expect(buffer.append([UInt8](repeating: 0xC3, count: 2000)) == 0)
        // Allocations are 16-byte aligned.
        #expect(buffer.append([0xC3]) == 2000)
        #expect(buffer.append([0xC3]) == 2016)
    }
}
