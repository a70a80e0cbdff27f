import ArgumentParser
import BlockLayer

/// `emu-img compare [-f FMT] [-F FMT] A B`: exit 0 identical, 1 different, 2 error.
struct Compare: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Compare the contents two images show the guest.")

    @Option(name: .short, help: "First image's format.") var format: ImageFormat?
    @Option(name: .customShort("F"), help: "Second image's format.") var secondFormat: ImageFormat?
    @Argument(help: "The first image.") var first: String
    @Argument(help: "The second image.") var second: String

    func run() async throws {
        do {
            let a = try await ImageOpener.open(path: first, format: format, readOnly: true)
            let b = try await ImageOpener.open(path: second, format: secondFormat, readOnly: true)
            if let offset = try await ImageConverter.firstDifference(a, b) {
                print("Content mismatch at offset \(offset)!")
                throw ExitCode(1)
            }
            print("Images are identical.")
        } catch let error as BlockError {
            complain("\(error)")
            throw ExitCode(2)
        }
    }
}
