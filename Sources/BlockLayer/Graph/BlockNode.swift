import Synchronization

/// A node of the block graph: a driver, its children (from the driver) and the node's checked
/// request entry points.
///
/// Guarantees: every request is checked (``RequestCheck``) before the driver sees it; write-type
/// requests on a read-only driver throw ``BlockError/readOnly``; at most one parent holds the
/// node's write permission (``claimWriter(holder:)``).
public final class BlockNode: Sendable {
    /// The node name (unique by convention, like QEMU's `node-name`).
    public let name: String
    /// The driver that serves this node.
    public let driver: any BlockDriver

    private struct State {
        var length: UInt64
        var writer: (id: UInt64, holder: String)?
        var nextClaim: UInt64 = 1
        var parents: [ParentReference] = []
        /// Per open drained section, the parents it quiesced (so its end resumes exactly those,
        /// even if a parent moved to another node inside the section).
        var sections: [[any BlockDrainParent]] = []
        var dirtyBitmaps: [BlockDirtyBitmap] = []
    }

    private struct ParentReference {
        weak var parent: (any BlockDrainParent)?
    }
    private let state: Mutex<State>

    /// Opens a node over `driver`, reading its length once (the node keeps it current across
    /// ``truncate(to:)``). Throws what the driver's `length()` throws.
    public init(name: String, driver: any BlockDriver) async throws(BlockError) {
        self.name = name
        self.driver = driver
        let length = try await driver.length()
        state = Mutex(State(length: length))
    }

    /// The node's children by role.
    public var children: [BlockChildRole: BlockNode] { driver.children }
    /// The current length in bytes.
    public var length: UInt64 { state.withLock { $0.length } }
    /// Whether write-type requests are refused.
    public var isReadOnly: Bool { driver.isReadOnly }
    /// Who holds the write permission, if anyone.
    public var writerHolder: String? { state.withLock { $0.writer?.holder } }

    /// Takes the node's single write permission for `holder`.
    /// Throws ``BlockError/writerConflict(node:holder:)`` naming the current holder if taken,
    /// ``BlockError/readOnly`` if the node is read-only.
    public func claimWriter(holder: String) throws(BlockError) -> BlockWriterClaim {
        if isReadOnly { throw .readOnly }
        let result: Result<UInt64, BlockError> = state.withLock { state in
            if let writer = state.writer { return .failure(.writerConflict(node: name, holder: writer.holder)) }
            let id = state.nextClaim
            state.nextClaim += 1
            state.writer = (id, holder)
            return .success(id)
        }
        return BlockWriterClaim(node: self, holder: holder, id: try result.get())
    }

    /// Registers `parent` to be quiesced by this node's drained sections (held weakly; adding
    /// twice has no effect).
    public func addParent(_ parent: any BlockDrainParent) {
        state.withLock { state in
            state.parents.removeAll { $0.parent == nil }
            if !state.parents.contains(where: { $0.parent === parent }) {
                state.parents.append(ParentReference(parent: parent))
            }
        }
    }

    /// Stops quiescing `parent` in later sections.
    public func removeParent(_ parent: any BlockDrainParent) {
        state.withLock { state in state.parents.removeAll { $0.parent == nil || $0.parent === parent } }
    }

    /// Starts recording writes to this node in `bitmap` (see ``BlockDirtyBitmap``).
    public func addDirtyBitmap(_ bitmap: BlockDirtyBitmap) {
        state.withLock { $0.dirtyBitmaps.append(bitmap) }
    }

    /// Stops recording writes in `bitmap`.
    public func removeDirtyBitmap(_ bitmap: BlockDirtyBitmap) {
        state.withLock { $0.dirtyBitmaps.removeAll { $0 === bitmap } }
    }

    /// Marks a finished write-type request in every attached bitmap.
    private func recordWrite(_ offset: UInt64, _ length: UInt64) {
        let bitmaps = state.withLock { $0.dirtyBitmaps }
        for bitmap in bitmaps { bitmap.mark(offset: offset, length: length) }
    }

    /// Whether a drained section of this node is open.
    public var isDrained: Bool { state.withLock { !$0.sections.isEmpty } }

    /// Opens a drained section of the node (sections nest): quiesces every current parent (each
    /// stops submitting and has nothing in flight when this returns).
    public func drainedBegin() async {
        let parents: [any BlockDrainParent] = state.withLock { state in
            let parents = state.parents.compactMap(\.parent)
            state.sections.append(parents)
            return parents
        }
        for parent in parents { await parent.drainedBegin() }
    }

    /// Closes the innermost section: resumes the parents it quiesced. Throws `unbalancedDrain`
    /// without an open section.
    public func drainedEnd() throws(BlockError) {
        let parents: [any BlockDrainParent]? = state.withLock { $0.sections.popLast() }
        guard let parents else { throw .unbalancedDrain }
        for parent in parents { try parent.drainedEnd() }
    }

    func releaseWriter(id: UInt64) {
        state.withLock { state in
            if state.writer?.id == id { state.writer = nil }
        }
    }

    private func checked(_ offset: UInt64, _ length: UInt64, transfer: Bool, write: Bool) throws(BlockError) {
        if write && isReadOnly { throw .readOnly }
        try RequestCheck.check(offset: offset, length: length, nodeLength: self.length,
                               limits: driver.limits, isTransfer: transfer)
    }

    /// Reads `buffer.count` bytes at `offset`. Throws range errors or the driver's error.
    public func read(into buffer: BlockBuffer, at offset: UInt64) async throws(BlockError) {
        try checked(offset, UInt64(buffer.count), transfer: true, write: false)
        if buffer.count == 0 { return }
        try await driver.read(into: buffer, at: offset)
    }

    /// Writes all of `buffer` at `offset`. Throws range errors, `readOnly`, or the driver's error.
    public func write(from buffer: BlockBuffer, at offset: UInt64) async throws(BlockError) {
        try checked(offset, UInt64(buffer.count), transfer: true, write: true)
        if buffer.count == 0 { return }
        defer { recordWrite(offset, UInt64(buffer.count)) }  // even a failed write may have changed data
        try await driver.write(from: buffer, at: offset)
    }

    /// Makes completed writes durable. Throws the driver's error.
    public func flush() async throws(BlockError) {
        try await driver.flush()
    }

    /// Discards a range. Throws range errors, `readOnly`, or the driver's error.
    public func discard(at offset: UInt64, length: UInt64) async throws(BlockError) {
        try checked(offset, length, transfer: false, write: true)
        if length == 0 { return }
        defer { recordWrite(offset, length) }
        try await driver.discard(at: offset, length: length)
    }

    /// Makes a range read as zeroes. Throws range errors, `readOnly`, or the driver's error.
    public func writeZeroes(at offset: UInt64, length: UInt64) async throws(BlockError) {
        try checked(offset, length, transfer: false, write: true)
        if length == 0 { return }
        defer { recordWrite(offset, length) }
        try await driver.writeZeroes(at: offset, length: length)
    }

    /// What this node's own layer holds from `offset` and for how many bytes (see
    /// ``BlockDriver/blockStatus(at:length:)``); the answer's length is clamped to 1...`length`.
    /// Throws range errors or the driver's error; an empty range throws `invalidArgument`.
    public func blockStatus(at offset: UInt64, length: UInt64) async throws(BlockError) -> BlockStatus {
        let (end, overflow) = offset.addingReportingOverflow(length)
        if overflow { throw .overflow(offset: offset, length: length) }
        if end > self.length { throw .outOfRange(offset: offset, length: length, nodeLength: self.length) }
        if length == 0 { throw .invalidArgument("blockStatus of an empty range") }
        var status = try await driver.blockStatus(at: offset, length: length)
        status.length = min(max(status.length, 1), length)
        return status
    }

    /// Changes the length. Throws `readOnly`, `misaligned`, or the driver's error.
    public func truncate(to newLength: UInt64) async throws(BlockError) {
        if isReadOnly { throw .readOnly }
        let alignment = UInt64(driver.limits.requestAlignment)
        if newLength % alignment != 0 {
            throw .misaligned(offset: newLength, length: 0, alignment: driver.limits.requestAlignment)
        }
        try await driver.truncate(to: newLength)
        let length = try await driver.length()
        state.withLock { $0.length = length }
    }
}
