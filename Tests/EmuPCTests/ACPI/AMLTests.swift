import Testing
@testable import EmuPC

/// Each construct against an encoding derived by hand from the ACPI 6.x AML grammar
/// (chapter 20) and the resource descriptor formats (6.4).
@Suite("AML encoding")
struct AMLTests {
    @Test func packageLengthUsesTheShortestFormAndCountsItself() throws {
        #expect(try AMLEncoding.packageLength(contentLength: 0) == [0x01])
        #expect(try AMLEncoding.packageLength(contentLength: 62) == [0x3F])
        // 63 + 2 = 65 = 0x41: lead byte 0b01 << 6 | 0x1, then 0x41 >> 4.
        #expect(try AMLEncoding.packageLength(contentLength: 63) == [0x41, 0x04])
        // 4093 + 2 = 4095: the largest two-byte value.
        #expect(try AMLEncoding.packageLength(contentLength: 4093) == [0x4F, 0xFF])
        // 4094 + 3 = 4097 = 0x1001: three bytes.
        #expect(try AMLEncoding.packageLength(contentLength: 4094) == [0x81, 0x00, 0x01])
        // 2^28 - 5 + 4 = 2^28 - 1: the largest value.
        #expect(try AMLEncoding.packageLength(contentLength: (1 << 28) - 5) == [0xCF, 0xFF, 0xFF, 0xFF])
        #expect(throws: AMLError.tooLong((1 << 28) - 4)) { try AMLEncoding.packageLength(contentLength: (1 << 28) - 4) }
    }

    @Test func nameStringsTakeTheirPrefixesAndPathForms() throws {
        #expect(try AMLEncoding.nameString("_SB") == Array("_SB_".utf8))
        #expect(try AMLEncoding.nameString("\\_SB.PCI0") == [0x5C, 0x2E] + Array("_SB_PCI0".utf8))
        #expect(try AMLEncoding.nameString("\\_SB.PCI0.S08") == [0x5C, 0x2F, 3] + Array("_SB_PCI0S08_".utf8))
        #expect(try AMLEncoding.nameString("^^FOO") == [0x5E, 0x5E] + Array("FOO_".utf8))
        #expect(try AMLEncoding.nameString("\\") == [0x5C, 0x00])
        for bad in ["", "pci0", "ABCDE", "1ABC", "\\_SB..X", "A-B"] {
            #expect(throws: AMLError.self) { try AMLEncoding.nameString(bad) }
        }
    }

    @Test func integersTakeTheShortestEncoding() {
        #expect(AMLEncoding.integer(0) == [0x00])
        #expect(AMLEncoding.integer(1) == [0x01])
        #expect(AMLEncoding.integer(2) == [0x0A, 0x02])
        #expect(AMLEncoding.integer(0xFF) == [0x0A, 0xFF])
        #expect(AMLEncoding.integer(0x100) == [0x0B, 0x00, 0x01])
        #expect(AMLEncoding.integer(0x1_0000) == [0x0C, 0x00, 0x00, 0x01, 0x00])
        #expect(AMLEncoding.integer(0xFFFF_FFFF) == [0x0C, 0xFF, 0xFF, 0xFF, 0xFF])
        #expect(AMLEncoding.integer(0x1_0000_0000) == [0x0E, 0, 0, 0, 0, 1, 0, 0, 0])
        #expect(AMLEncoding.integer(.max) == [0xFF])
    }

    @Test func stringsAndEISAIDs() throws {
        #expect(try AML.string("ACPI0007") == [0x0D] + Array("ACPI0007".utf8) + [0])
        #expect(throws: AMLError.self) { try AML.string("a\u{0}b") }
        #expect(throws: AMLError.self) { try AML.string("é") }
        // "PNP": P=0x10, N=0x0E, P=0x10 -> 0x10<<10 | 0x0E<<5 | 0x10 = 0x41D0, stored big-endian,
        // followed by the product 0x0A03.
        #expect(try AML.eisaID("PNP0A03") == [0x0C, 0x41, 0xD0, 0x0A, 0x03])
        #expect(try AML.eisaID("PNP0501") == [0x0C, 0x41, 0xD0, 0x05, 0x01])
        for bad in ["PNP0A0", "pnp0A03", "PNP0A0G", "PN10A03"] {
            #expect(throws: AMLError.self) { try AML.eisaID(bad) }
        }
    }

    @Test func namedObjectsScopesDevicesAndMethods() throws {
        #expect(try AML.name("_HID", AML.eisaID("PNP0A03")) == [0x08] + Array("_HID".utf8) + [0x0C, 0x41, 0xD0, 0x0A, 0x03])
        // Scope: ScopeOp, PkgLength(1 + 5), '\' "_SB_".
        #expect(try AML.scope("\\_SB", []) == [0x10, 0x06, 0x5C] + Array("_SB_".utf8))
        // Device: 0x5B 0x82, PkgLength(1 + 4 + 6), "COM1", Name(_UID, One).
        #expect(try AML.device("COM1", [AML.name("_UID", AML.integer(1))])
                == [0x5B, 0x82, 0x0B] + Array("COM1".utf8) + [0x08] + Array("_UID".utf8) + [0x01])
        // Method: MethodOp, PkgLength(1 + 4 + 1 + 3), "_STA", flags 0, Return(0x0F).
        #expect(try AML.method("_STA", argumentCount: 0, [AML.returnValue(AML.integer(0x0F))])
                == [0x14, 0x09] + Array("_STA".utf8) + [0x00, 0xA4, 0x0A, 0x0F])
        // Four arguments, serialized: flags 0b1100.
        #expect(try AML.method("_OSC", argumentCount: 4, serialized: true, [])[6] == 0x0C)
        #expect(throws: AMLError.invalidArgumentCount(8)) { try AML.method("XXXX", argumentCount: 8, []) }
    }

    @Test func packagesAndBuffers() throws {
        // PackageOp, PkgLength(1 + 1 + 1 + 2), NumElements 2, One, 0x0A 0x02.
        #expect(try AML.package([AML.integer(1), AML.integer(2)]) == [0x12, 0x05, 0x02, 0x01, 0x0A, 0x02])
        // BufferOp, PkgLength(1 + 2 + 3), BufferSize 0x0A 0x03, the bytes.
        #expect(try AML.buffer([1, 2, 3]) == [0x11, 0x06, 0x0A, 0x03, 1, 2, 3])
        // A 100-byte buffer needs a two-byte PkgLength: 2 + 2 + 100 = 104 = 0x68.
        let big = try AML.buffer([UInt8](repeating: 7, count: 100))
        #expect(Array(big.prefix(5)) == [0x11, 0x48, 0x06, 0x0A, 100])
        #expect(big.count == 105)
        #expect(throws: AMLError.tooManyElements(256)) {
            try AML.package([[UInt8]](repeating: [0], count: 256))
        }
        // ToUUID: the first three fields byte-swapped.
        let uuid = try AML.uuid("33DB4D5B-1FF7-401C-9657-7441C03DD766")
        #expect(Array(uuid.suffix(16)) == [0x5B, 0x4D, 0xDB, 0x33, 0xF7, 0x1F, 0x1C, 0x40,
                                           0x96, 0x57, 0x74, 0x41, 0xC0, 0x3D, 0xD7, 0x66])
    }

    @Test func controlFlowAndOperators() throws {
        // If (LNot (LEqual (Arg0, One))) { Return (Arg3) }
        let body = try AML.ifThen(AML.logicalNot(AML.logicalEqual(AML.arg(0), AML.integer(1))),
                                  [AML.returnValue(AML.arg(3))])
        #expect(body == [0xA0, 0x07, 0x92, 0x93, 0x68, 0x01, 0xA4, 0x6B])
        #expect(AML.or([0x60], AML.integer(4), into: [0x61]) == [0x7D, 0x60, 0x0A, 0x04, 0x61])
        #expect(try AML.createDWordField(AML.arg(3), byteIndex: AML.integer(0), "CDW1")
                == [0x8A, 0x6B, 0x00] + Array("CDW1".utf8))
    }

    @Test func smallResourceDescriptors() throws {
        #expect(try AMLResource.io(minimum: 0x3F8, maximum: 0x3F8, alignment: 1, length: 8).encoded()
                == [0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x01, 0x08])
        #expect(try AMLResource.irqNoFlags([4]).encoded() == [0x22, 0x10, 0x00])
        #expect(try AMLResource.irqNoFlags([8, 1]).encoded() == [0x22, 0x02, 0x01])
        #expect(throws: AMLError.self) { try AMLResource.irqNoFlags([16]).encoded() }
        // ResourceTemplate: a buffer with the End Tag 0x79 and a zero checksum.
        #expect(try AML.resourceTemplate([.irqNoFlags([4])]) == [0x11, 0x08, 0x0A, 0x05, 0x22, 0x10, 0x00, 0x79, 0x00])
    }

    @Test func largeResourceDescriptors() throws {
        #expect(try AMLResource.memory32Fixed(writable: true, base: 0xB000_0000, length: 0x1000_0000).encoded()
                == [0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xB0, 0x00, 0x00, 0x00, 0x10])
        // Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive) {9}
        #expect(try AMLResource.interrupt(.consumer, levelTriggered: true, activeLow: false, shared: false, [9]).encoded()
                == [0x89, 0x06, 0x00, 0x01, 0x01, 0x09, 0x00, 0x00, 0x00])
        // Edge, ActiveLow, Shared: flags 0x01 | 0x02 | 0x04 | 0x08.
        #expect(try AMLResource.interrupt(.consumer, levelTriggered: false, activeLow: true, shared: true, [5, 6]).encoded()
                == [0x89, 0x0A, 0x00, 0x0F, 0x02, 5, 0, 0, 0, 6, 0, 0, 0])
        // WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, 0, 0xFF, 0, 0x100)
        #expect(try AMLResource.wordAddressSpace(.busNumber, .producer, minimum: 0, maximum: 0xFF).encoded()
                == [0x88, 0x0D, 0x00, 0x02, 0x0C, 0x00, 0, 0, 0, 0, 0xFF, 0, 0, 0, 0x00, 0x01])
        // WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, 0, 0x1000, 0xFFFF, 0, 0xF000)
        #expect(try AMLResource.wordAddressSpace(.io, .producer, minimum: 0x1000, maximum: 0xFFFF).encoded()
                == [0x88, 0x0D, 0x00, 0x01, 0x0C, 0x03, 0, 0, 0x00, 0x10, 0xFF, 0xFF, 0, 0, 0x00, 0xF0])
        // DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,
        //              0, 0xC0000000, 0xFEBFFFFF, 0, 0x3EC00000)
        #expect(try AMLResource.dwordAddressSpace(.memory(.nonCacheable, writable: true), .producer,
                                                  minimum: 0xC000_0000, maximum: 0xFEBF_FFFF).encoded()
                == [0x87, 0x17, 0x00, 0x00, 0x0C, 0x01, 0, 0, 0, 0, 0x00, 0x00, 0x00, 0xC0,
                    0xFF, 0xFF, 0xBF, 0xFE, 0, 0, 0, 0, 0x00, 0x00, 0xC0, 0x3E])
        // QWordMemory, Cacheable, ReadWrite: type-specific flags 0b011.
        let q = try AMLResource.qwordAddressSpace(.memory(.cacheable, writable: true), .producer,
                                                  minimum: 0x80_0000_0000, maximum: 0xFF_FFFF_FFFF).encoded()
        #expect(Array(q.prefix(6)) == [0x8A, 0x2B, 0x00, 0x00, 0x0C, 0x03])
        #expect(q.count == 46)
        #expect(Array(q.suffix(8)) == [0, 0, 0, 0, 0x80, 0, 0, 0], "length 0x80_0000_0000")
        #expect(throws: AMLError.self) {
            try AMLResource.wordAddressSpace(.io, .producer, minimum: 0, maximum: 0xFFFF).encoded()
        }
        #expect(throws: AMLError.self) {
            try AMLResource.dwordAddressSpace(.io, .producer, minimum: 2, maximum: 1).encoded()
        }
    }
}
