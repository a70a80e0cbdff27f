import Testing
@testable import BlockLayer

@Suite struct WriterPermissionTests {
    @Test func secondWriterGetsAClearError() async throws {
        let node = try await memoryNode("disk0", size: 4096)
        let first = try BlockBackend(name: "vda", node: node)
        #expect(node.writerHolder == "backend vda")
        #expect(throws: BlockError.writerConflict(node: "disk0", holder: "backend vda")) {
            _ = try BlockBackend(name: "vdb", node: node)
        }
        // A reader may attach beside the writer.
        let reader = try BlockBackend(name: "ro", node: node, readOnly: true)
        await #expect(throws: BlockError.readOnly) { try await reader.write([1], at: 0) }
        _ = first
    }

    @Test func formatDriverHoldsItsChildAndReleasingFreesIt() async throws {
        let file = try await memoryNode("file", size: 4096)
        var raw: RawFormatDriver? = try RawFormatDriver(file: file)
        #expect(throws: BlockError.writerConflict(node: "file", holder: "raw format over file")) {
            _ = try file.claimWriter(holder: "job")
        }
        raw = nil
        _ = raw
        let claim = try file.claimWriter(holder: "job")
        claim.release()
        claim.release()
        #expect(file.writerHolder == nil)
    }
}
