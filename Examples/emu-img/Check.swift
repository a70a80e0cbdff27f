import ArgumentParser
import BlockLayer

/// `emu-img check [-f FMT] [-r leaks|all] FILE`, with qemu-img's exit statuses: 0 no errors,
/// 1 the check could not run, 2 corruptions, 3 leaks only, 63 the format has no checks.
struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check a qcow2 image's consistency; optionally repair leaks.")

    @Option(name: .short, help: "Image format (probed if omitted).") var format: ImageFormat?
    @Option(name: .short, help: "Repair: leaks, or all (also refcounts that are too low; clears the dirty bit).") var repair: String?
    @Argument(help: "The image file.") var file: String

    func run() async throws {
        if let repair, repair != "leaks" && repair != "all" { throw ValidationError("-r takes leaks or all") }
        do {
            let chosen: ImageFormat
            if let format { chosen = format } else { chosen = try await ImageOpener.probe(path: file) }
            guard chosen == .qcow2 else {
                complain("This image format does not support checks")
                throw ExitCode(63)
            }
            var report = try await Qcow2Checker.check(path: file, repairLeaks: repair != nil, repairRefcounts: repair == "all")
            for message in report.messages { print(message) }
            if report.leaksFixed > 0 || report.corruptionsFixed > 0 {
                print("The following inconsistencies were found and repaired:\n\n    \(report.leaksFixed) leaked clusters\n    \(report.corruptionsFixed) corruptions\n")
                print("Double checking the fixed image now...")
                report = try await Qcow2Checker.check(path: file)
                for message in report.messages { print(message) }
            }
            if report.corruptions == 0 && report.leaks == 0 {
                print("No errors were found on the image.")
            }
            if report.corruptions > 0 {
                print("\n\(report.corruptions) errors were found on the image.")
                print("Data may be corrupted, or further writes to the image may corrupt it.")
            }
            if report.leaks > 0 {
                print("\n\(report.leaks) leaked clusters were found on the image.")
                print("This means waste of disk space, but no harm to data.")
            }
            let percent = report.totalGuestClusters == 0 ? 0 : Double(report.allocatedGuestClusters) * 100 / Double(report.totalGuestClusters)
            print("\(report.allocatedGuestClusters)/\(report.totalGuestClusters) = \((percent * 100).rounded() / 100)% allocated")
            print("Image end offset: \(report.imageEndOffset)")
            if report.exitCode != 0 { throw ExitCode(report.exitCode) }
        } catch let error as BlockError {
            complain("Check failed: \(error)")
            throw ExitCode(1)
        }
    }
}
