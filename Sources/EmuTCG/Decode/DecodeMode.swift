/// The processor mode whose encoding rules the decoder applies: it fixes the default operand,
/// address and stack sizes, whether 40–4F are REX prefixes, and how ModRM's disp32-only form
/// addresses memory.
///
/// Every place in the decoder that depends on the mode switches over this type exhaustively, so
/// a further mode is a new case whose consequences the compiler points out.
public enum DecodeMode: Sendable, Hashable {
    /// 64-bit mode (long mode with a 64-bit code segment): REX prefixes, a 32-bit default
    /// operand size, 64-bit addresses and stack operations, RIP-relative disp32 operands.
    case long64
}
