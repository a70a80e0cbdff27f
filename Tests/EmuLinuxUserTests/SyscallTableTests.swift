import EmuTCG
import Testing
@testable import EmuLinuxUser

@Suite struct SyscallTableTests {
    @Test func everyNumberHasOneRowAndArgumentsFitTheRegisters() {
        var seen = Set<Int>()
        for e in SyscallTable.entries {
            #expect(!seen.contains(e.number), "duplicate \(e.number)")
            seen.insert(e.number)
            #expect(e.arguments.count <= 6)
            for kind in e.arguments {
                switch kind {
                case .inBuffer(let n), .outBuffer(let n): #expect(n < e.arguments.count && n >= 0)
                default: break
                }
            }
        }
        #expect(SyscallTable.byNumber[0]?.canBlock == true && SyscallTable.byNumber[1]?.canBlock == true)
        #expect(SyscallTable.byNumber[3]?.canBlock == false)
    }

    @Test func straceLinesComeFromTheSameRow() throws {
        let memory = try GuestAddressSpace(size: 1 << 24)
        try memory.map(0x1000, length: 0x1000, [.read, .write])
        memory.poke(0x1000, Array("/etc/hostname\0hi\n".utf8))
        let open = SyscallTable.byNumber[257]
        let args = SyscallArgs(values: (UInt64(bitPattern: -100), 0x1000, 0, 0, 0, 0))
        #expect(StraceFormatter.line(entry: open, number: 257, args: args, result: -2, memory: memory)
                == "openat(-100, \"/etc/hostname\", 0x0, 0x0) = -1 ENOENT")
        let write = SyscallArgs(values: (1, 0x100E, 3, 0, 0, 0))
        #expect(StraceFormatter.line(entry: SyscallTable.byNumber[1], number: 1, args: write, result: 3, memory: memory)
                == "write(1, \"hi\\n\", 3) = 3")
        #expect(StraceFormatter.line(entry: nil, number: 999, args: write, result: -38, memory: memory).hasPrefix("syscall_999("))
    }

    @Test func badGuestPointersAreEFAULTNotAHostFault() throws {
        let path = "/tmp/emu-user-test-\(getpid()).elf"
        let bytes = LoaderTests().elf(code: [0x0F, 0x05])
        #expect(FileManagerLite.write(path, bytes))
        defer { unlink(path) }
        let process = try LinuxProcess(path: path, arguments: [path], environment: [])
        guard let write = SyscallTable.byNumber[1], let read = SyscallTable.byNumber[0] else { Issue.record("no rows"); return }
        // Unmapped buffer, buffer crossing into unmapped memory, read into a read-only page.
        #expect(SyscallTable.passThrough(write, SyscallArgs(values: (1, 0x7000_0000, 10, 0, 0, 0)), process.mainThread) == -LinuxErrno.EFAULT)
        #expect(SyscallTable.passThrough(write, SyscallArgs(values: (1, 0x400FFF, 2, 0, 0, 0)), process.mainThread) == -LinuxErrno.EFAULT)
        #expect(SyscallTable.passThrough(read, SyscallArgs(values: (0, 0x400000, 4, 0, 0, 0)), process.mainThread) == -LinuxErrno.EFAULT)
        // A NULL path is passed as NULL (the host says EFAULT), a path in unmapped memory never reaches the host.
        guard let openat = SyscallTable.byNumber[257] else { Issue.record("no openat"); return }
        #expect(SyscallTable.passThrough(openat, SyscallArgs(values: (UInt64(bitPattern: -100), 0x7000_0000, 0, 0, 0, 0)), process.mainThread) == -LinuxErrno.EFAULT)
    }

    @Test func mincoreAnswersForGuestPagesAndChecksItsArguments() throws {
        let path = "/tmp/emu-user-mincore-\(getpid()).elf"
        #expect(FileManagerLite.write(path, LoaderTests().elf(code: [0x0F, 0x05])))
        defer { unlink(path) }
        let p = try LinuxProcess(path: path, arguments: [path], environment: [])
        let m = p.memory
        try m.map(0x2000_0000, length: 0x4000, [.read, .write])
        _ = m.poke(0x2000_0000, [1]) // touched: resident
        _ = m.poke(0x2000_2000, [1])
        try m.map(0x3000_0000, length: 0x1000, [.read, .write])
        func mincore(_ a: UInt64, _ n: UInt64, _ v: UInt64) -> Int64 { MemorySyscalls.mincore(p.mainThread, SyscallArgs(values: (a, n, v, 0, 0, 0))) }
        _ = m.poke(0x3000_0000, [UInt8](repeating: 0xEE, count: 4))
        #expect(mincore(0x2000_0000, 0x4000, 0x3000_0000) == 0)
        let vector = try #require(m.read(0x3000_0000, count: 4))
        #expect(vector[0] & 1 == 1 && vector[2] & 1 == 1 && vector.allSatisfy { $0 & 0xFE == 0 })
        #expect(mincore(0x2000_0001, 10, 0x3000_0000) == -LinuxErrno.EINVAL)
        #expect(mincore(0x2000_0000, 0x5000, 0x3000_0000) == -LinuxErrno.ENOMEM, "a page past the mapping")
        #expect(mincore(UInt64.max & ~0xFFF, 0x1000, 0x3000_0000) == -LinuxErrno.ENOMEM)
        #expect(mincore(0x2000_0000, 0x4000, 0x400000) == -LinuxErrno.EFAULT, "vector in a read-only page")
    }
}

#if canImport(Glibc)
import Glibc
#endif

enum FileManagerLite {
    static func write(_ path: String, _ bytes: [UInt8]) -> Bool {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o755)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == bytes.count
    }
}
