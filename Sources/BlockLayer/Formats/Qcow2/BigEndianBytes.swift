/// Big-endian field access on byte arrays, as qcow2 stores every integer. Reads past the end
/// give 0 (callers check lengths first); writes past the end are dropped.
extension Array where Element == UInt8 {
    func bigEndian64(at offset: Int) -> UInt64 {
        guard offset >= 0, offset + 8 <= count else { return 0 }
        var value: UInt64 = 0
        for index in 0..<8 { value = value << 8 | UInt64(self[offset + index]) }
        return value
    }

    func bigEndian32(at offset: Int) -> UInt32 {
        guard offset >= 0, offset + 4 <= count else { return 0 }
        var value: UInt32 = 0
        for index in 0..<4 { value = value << 8 | UInt32(self[offset + index]) }
        return value
    }

    func bigEndian16(at offset: Int) -> UInt16 {
        guard offset >= 0, offset + 2 <= count else { return 0 }
        return UInt16(self[offset]) << 8 | UInt16(self[offset + 1])
    }

    mutating func setBigEndian64(_ value: UInt64, at offset: Int) {
        guard offset >= 0, offset + 8 <= count else { return }
        for index in 0..<8 { self[offset + index] = UInt8(truncatingIfNeeded: value >> (56 - 8 * UInt64(index))) }
    }

    mutating func setBigEndian32(_ value: UInt32, at offset: Int) {
        guard offset >= 0, offset + 4 <= count else { return }
        for index in 0..<4 { self[offset + index] = UInt8(truncatingIfNeeded: value >> (24 - 8 * UInt32(index))) }
    }
}
