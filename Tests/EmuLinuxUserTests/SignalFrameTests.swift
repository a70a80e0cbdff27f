#if canImport(Glibc)
import Glibc
#endif
import EmuTCG
import Testing
@testable import EmuLinuxUser

@Suite struct SignalFrameTests {
    @Test func deliveryBuildsTheLinuxFrameAndSigreturnRestoresEverything() throws {
        let path = "/tmp/emu-user-signal-test-\(getpid()).elf"
        #expect(FileManagerLite.write(path, LoaderTests().elf(code: [0x0F, 0x05])))
        defer { unlink(path) }
        let p = try LinuxProcess(path: path, arguments: [path], environment: [])
        p.signalActions[10] = GuestSignalAction(handler: 0x400100, flags: SignalDelivery.SA_RESTORER, restorer: 0x400200, mask: 1 << 11)
        for r in 0..<16 where r != 4 { p.cpu[gpr: r] = 0x1000 + UInt64(r) }
        p.cpu.rip = 0x400078
        p.cpu.setXMM(3, low: 0xAAAA, high: 0xBBBB)
        p.cpu.rflags = RFlags.cf | RFlags.zf
        let rsp = p.cpu[gpr: 4]
        #expect(SignalDelivery.deliver(p, .init(signal: 10, code: 0, address: 77)))
        let frame = p.cpu[gpr: 4]
        #expect(frame % 16 == 8 && frame < rsp - 128)
        #expect(p.cpu.rip == 0x400100 && p.cpu[gpr: 7] == 10 && p.cpu[gpr: 2] == frame + 8 && p.cpu[gpr: 6] == frame + 312)
        func word(_ a: UInt64) -> UInt64 { (p.memory.read(a, count: 8) ?? []).enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) } }
        #expect(word(frame) == 0x400200)                      // pretcode = sa_restorer
        #expect(word(frame + 48 + 13 * 8) == 0x1000)          // sigcontext.rax
        #expect(word(frame + 48 + 16 * 8) == 0x400078)        // sigcontext.rip
        #expect(word(frame + 312) == 10 && word(frame + 328) == 77) // si_signo, si_addr
        // SIGUSR1 itself and sa_mask (SIGUSR2) are blocked inside the handler.
        #expect(p.signalMask == (1 << 9) | (1 << 11))
        // The handler clobbers state, then returns through the restorer.
        p.cpu.setXMM(3, low: 0, high: 0)
        p.cpu[gpr: 0] = 0xDEAD
        p.cpu.rflags = 0
        p.cpu[gpr: 4] = frame + 8
        #expect(SignalDelivery.sigreturn(p))
        #expect(p.cpu.rip == 0x400078 && p.cpu[gpr: 4] == rsp && p.cpu[gpr: 0] == 0x1000)
        #expect(p.cpu.xmm(3) == (0xAAAA, 0xBBBB))
        #expect(p.cpu.rflags & (RFlags.cf | RFlags.zf) == RFlags.cf | RFlags.zf && p.signalMask == 0)
    }

    @Test func anUnwritableStackMeansNoDelivery() throws {
        let path = "/tmp/emu-user-signal-test2-\(getpid()).elf"
        #expect(FileManagerLite.write(path, LoaderTests().elf(code: [0x0F, 0x05])))
        defer { unlink(path) }
        let p = try LinuxProcess(path: path, arguments: [path], environment: [])
        p.signalActions[11] = GuestSignalAction(handler: 0x400100, flags: SignalDelivery.SA_RESTORER, restorer: 0x400200, mask: 0)
        p.cpu[gpr: 4] = 0x7000_0000 // unmapped
        #expect(!SignalDelivery.deliver(p, .init(signal: 11, code: 1, address: 0)))
    }
}
