/// The range checks every request passes before it reaches a driver.
enum RequestCheck {
    /// Checks `offset..<offset+length` for overflow, the node's end, alignment and transfer size.
    static func check(offset: UInt64, length: UInt64, nodeLength: UInt64, limits: BlockLimits,
                      isTransfer: Bool) throws(BlockError) {
        let (end, overflow) = offset.addingReportingOverflow(length)
        if overflow { throw .overflow(offset: offset, length: length) }
        if end > nodeLength { throw .outOfRange(offset: offset, length: length, nodeLength: nodeLength) }
        let alignment = UInt64(limits.requestAlignment)
        if offset % alignment != 0 || length % alignment != 0 {
            throw .misaligned(offset: offset, length: length, alignment: limits.requestAlignment)
        }
        if isTransfer, let maximum = limits.maxTransfer, length > UInt64(maximum) {
            throw .tooLarge(length: length, maximum: maximum)
        }
    }
}
