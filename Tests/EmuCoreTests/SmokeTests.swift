import Testing
@testable import EmuCore
