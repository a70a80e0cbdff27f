/// Appends IR operations and allocates temps for the translator.
public struct IRBuilder {
    public private(set) var ops: [IROp] = []
    public private(set) var tempCount: Int32 = 0

    /// An empty builder.
    public init() {}

    /// A fresh temp.
    public mutating func temp() -> IRTemp {
        defer { tempCount += 1 }
        return IRTemp(tempCount)
    }

    /// Appends an operation.
    public mutating func emit(_ op: IROp) { ops.append(op) }

    public mutating func constant(_ value: UInt64) -> IRTemp {
        let t = temp(); emit(.constant(t, value)); return t
    }
    public mutating func get(_ slot: Int) -> IRTemp {
        let t = temp(); emit(.get(t, slot: slot)); return t
    }
    public mutating func put(_ slot: Int, _ value: IRTemp) { emit(.put(slot: slot, value)) }
    public mutating func binary(_ op: IRBinaryOp, _ a: IRTemp, _ b: IRTemp) -> IRTemp {
        let t = temp(); emit(.binary(op, t, a, b)); return t
    }
    public mutating func binary(_ op: IRBinaryOp, _ a: IRTemp, _ b: UInt64) -> IRTemp {
        let t = temp(); emit(.binaryImmediate(op, t, a, b)); return t
    }
    /// A state slot's low `size` bytes, zero-extended (the whole slot for 8).
    public mutating func get(_ slot: Int, size: Int) -> IRTemp {
        if size >= 8 { return get(slot) }
        let t = temp(); emit(.getZeroExtended(t, slot: slot, size: size)); return t
    }
    public mutating func unary(_ op: IRUnaryOp, _ a: IRTemp) -> IRTemp {
        let t = temp(); emit(.unary(op, t, a)); return t
    }
    public mutating func load(_ address: IRTemp, size: Int, pc: UInt64) -> IRTemp {
        let t = temp(); emit(.load(t, address: address, size: size, pc: pc)); return t
    }
    public mutating func store(_ address: IRTemp, _ value: IRTemp, size: Int, pc: UInt64) {
        emit(.store(address: address, value: value, size: size, pc: pc))
    }
    public mutating func select(_ c: IRTemp, _ a: IRTemp, _ b: IRTemp) -> IRTemp {
        let t = temp(); emit(.select(t, condition: c, a, b)); return t
    }
    public mutating func condition(_ cc: UInt8) -> IRTemp {
        let t = temp(); emit(.condition(t, cc: cc)); return t
    }
    public mutating func flags() -> IRTemp {
        let t = temp(); emit(.flags(t)); return t
    }
    /// Zero-extends the low `size` bytes.
    public mutating func zeroExtend(_ a: IRTemp, size: Int) -> IRTemp {
        switch size {
        case 1: return unary(.zeroExtend8, a)
        case 2: return unary(.zeroExtend16, a)
        case 4: return unary(.zeroExtend32, a)
        default: return a
        }
    }
    /// Sign-extends the low `size` bytes to 64 bits.
    public mutating func signExtend(_ a: IRTemp, size: Int) -> IRTemp {
        switch size {
        case 1: return unary(.signExtend8, a)
        case 2: return unary(.signExtend16, a)
        case 4: return unary(.signExtend32, a)
        default: return a
        }
    }
    public mutating func helper(_ h: IRHelper, _ args: [IRTemp], result: Bool, pc: UInt64) -> IRTemp? {
        let t: IRTemp? = result ? temp() : nil
        emit(.helper(h, args: args, result: t, pc: pc))
        return t
    }
}
