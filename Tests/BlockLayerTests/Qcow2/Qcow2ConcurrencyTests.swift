import Testing
@testable import BlockLayer

/// Many tasks at once write, zero, discard, read and flush through one backend on a qcow2 image.
/// Each task owns a byte range that is not cluster-aligned, so neighbours share clusters and L2
/// tables (copy-on-write of a cluster races with the neighbour's writes into it). Each task keeps
/// its own model; at the end every range matches its model and the image checks clean.
@Suite struct Qcow2ConcurrencyTests {
    @Test func mixedRequestsFromManyTasksMatchTheirModels() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "mixed.qcow2"
            let clusterSize = 4096
            let regionSize = 10_000, regions = 24
            try await ImageCreator.create(path: path, format: .qcow2, size: UInt64(regionSize * regions + 5000), clusterSize: clusterSize)
            let node = try await ImageOpener.open(path: path)
            let backend = try BlockBackend(name: "disk", node: node)
            let models = try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { group in
                for region in 0..<regions {
                    group.addTask {
                        var model = [UInt8](repeating: 0, count: regionSize)
                        var generator = SplitMix(seed: UInt64(region) + 100)
                        let base = region * regionSize + 1234
                        for step in 0..<30 {
                            let start = Int(generator.next() % UInt64(regionSize - 1))
                            let length = Int(generator.next() % UInt64(regionSize - start - 1)) + 1
                            let at = UInt64(base + start)
                            switch generator.next() % 8 {
                            case 0:
                                try await backend.writeZeroes(at: at, length: UInt64(length))
                                for index in start..<(start + length) { model[index] = 0 }
                            case 1:
                                try await backend.discard(at: at, length: UInt64(length))
                                // Whole clusters inside the range read as zeroes; the rest is kept.
                                let first = (base + start + clusterSize - 1) / clusterSize * clusterSize
                                let end = (base + start + length) / clusterSize * clusterSize
                                if first < end { for index in (first - base)..<(end - base) { model[index] = 0 } }
                            case 2:
                                try await backend.flush()
                            case 3:
                                let back = try await backend.read(at: at, count: length)
                                #expect(back == Array(model[start..<(start + length)]), "region \(region) step \(step)")
                            default:
                                let data = pattern(length, seed: UInt8(truncatingIfNeeded: region * 31 + step))
                                try await backend.write(data, at: at)
                                model.replaceSubrange(start..<(start + length), with: data)
                            }
                        }
                        return (region, model)
                    }
                }
                var models: [Int: [UInt8]] = [:]
                for try await (region, model) in group { models[region] = model }
                return models
            }
            try await backend.flush()
            let reopened = try await ImageOpener.open(path: path, readOnly: true)
            for region in 0..<regions {
                let back = try await readBytes(reopened, at: UInt64(region * regionSize + 1234), count: regionSize)
                #expect(back == models[region], "region \(region)")
            }
            let report = try await Qcow2Checker.check(path: path)
            #expect(report.exitCode == 0, "\(report.messages)")
        }
    }
}
