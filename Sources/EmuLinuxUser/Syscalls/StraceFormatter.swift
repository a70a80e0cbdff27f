import EmuTCG

/// Formats one system call for `--strace`, from the same table row that implements it.
public enum StraceFormatter {
    /// `name(arg, …) = result` (errors as `-1 ENAME` like strace), or `syscall_N(…) = -1 ENOSYS
    /// (not implemented)` for numbers not in the table.
    public static func line(entry: SyscallEntry?, number: UInt64, args: SyscallArgs, result: Int64,
                            memory: GuestAddressSpace) -> String {
        guard let entry else {
            let raw = (0..<6).map { "0x" + String(args[$0], radix: 16) }.joined(separator: ", ")
            return "syscall_\(number)(\(raw)) = -1 ENOSYS (not implemented)"
        }
        var parts: [String] = []
        for (i, kind) in entry.arguments.enumerated() {
            let v = args[i]
            switch kind {
            case .int, .fd:
                parts.append(String(Int64(bitPattern: v)))
            case .hex, .pointer, .outBuffer, .outStruct, .inOutStruct, .inStruct:
                parts.append("0x" + String(v, radix: 16))
            case .path:
                parts.append(quoted(memory.cString(at: v, limit: 256)))
            case .inBuffer(let lengthIndex):
                let n = Int(min(args[lengthIndex], 32))
                parts.append(quoted(memory.read(v, count: n)) + (args[lengthIndex] > 32 ? "..." : ""))
            }
        }
        let r = result < 0 && result > -4096 ? "-1 \(errnoName(-result))" : (result > 0xFFFF ? "0x" + String(UInt64(bitPattern: result), radix: 16) : String(result))
        return "\(entry.name)(\(parts.joined(separator: ", "))) = \(r)"
    }

    static func quoted(_ bytes: [UInt8]?) -> String {
        guard let bytes else { return "<unreadable>" }
        var s = "\""
        for b in bytes {
            switch b {
            case 0x0A: s += "\\n"
            case 0x09: s += "\\t"
            case 0x22: s += "\\\""
            case 0x5C: s += "\\\\"
            case 0x20..<0x7F: s.append(Character(Unicode.Scalar(b)))
            default: s += "\\x" + String(b, radix: 16)
            }
        }
        return s + "\""
    }

    static func errnoName(_ e: Int64) -> String {
        let names: [Int64: String] = [1: "EPERM", 2: "ENOENT", 3: "ESRCH", 4: "EINTR", 9: "EBADF", 10: "ECHILD",
                                      11: "EAGAIN", 12: "ENOMEM", 13: "EACCES", 14: "EFAULT", 17: "EEXIST",
                                      20: "ENOTDIR", 21: "EISDIR", 22: "EINVAL", 25: "ENOTTY", 34: "ERANGE",
                                      38: "ENOSYS", 110: "ETIMEDOUT"]
        return names[e] ?? "E\(e)"
    }
}
