import EmuCore

/// How ``PCMachine/loadLinux(kernel:initialRamdisk:commandLine:entry:)`` enters the kernel.
public enum PCLinuxEntry: Sendable, Equatable {
    /// The bzImage's 64-bit entry; the kernel decompresses itself in the guest.
    case compressed
    /// The xz payload decompressed on the host (liblzma) and its ELF segments loaded at their
    /// link-time addresses; entry at `startup_64`, without KASLR.
    case decompressed
}

extension PCMachine {
    /// Reads a Linux kernel (bzImage) and optionally an initrd from host files, checks them, and
    /// loads them into the machine's RAM with the command line, a zero page whose e820 map is
    /// ``PCMachineConfiguration/linuxMemoryMap``, and ACPI tables built from
    /// ``PCMachineConfiguration/acpiConfiguration``.
    ///
    /// Both files are read and every check (the bzImage header, the 64-bit entry, the payload
    /// when decompressing, the command line, where the kernel and initrd fit) is made before
    /// the first byte is written to guest RAM.
    /// - Returns: what was loaded where, with the long-mode state the CPU must be started in.
    /// - Throws: ``LinuxBootError``: ``LinuxBootError/file(path:_:)`` for a file that cannot be
    ///   read; ``LinuxBootError/notBzImage(_:)``, ``LinuxBootError/protocolTooOld(version:)``,
    ///   ``LinuxBootError/no64BitEntry`` or ``LinuxBootError/truncated(_:)`` for a kernel that
    ///   cannot be booted; ``LinuxBootError/unsupportedCompression(_:)``,
    ///   ``LinuxBootError/corruptPayload(_:)`` or ``LinuxBootError/invalidELF(_:)`` for a payload
    ///   that cannot be decompressed (``PCLinuxEntry/decompressed`` only);
    ///   ``LinuxBootError/initrdDoesNotFit(size:room:)``, ``LinuxBootError/kernelDoesNotFit(address:required:)``,
    ///   ``LinuxBootError/commandLineTooLong(length:limit:)``, ``LinuxBootError/commandLineHasNUL``,
    ///   ``LinuxBootError/invalidMemoryMap(_:)`` or ``LinuxBootError/acpi(_:)`` from the loader.
    public func loadLinux(kernel: String, initialRamdisk: String? = nil, commandLine: String = "",
                          entry: PCLinuxEntry = .compressed) throws(LinuxBootError) -> LinuxBootLoader.Result {
        let image = try BzImage(contentsOf: kernel)
        var options = LinuxBootLoader.Options()
        options.commandLine = commandLine
        options.acpi = configuration.acpiConfiguration
        switch entry {
        case .compressed: options.entry = .compressed
        case .decompressed: options.entry = .decompressed(try image.decompressedKernel())
        }
        if let initialRamdisk {
            do throws(SystemCallError) {
                options.initialRamdisk = try HostFile.read(initialRamdisk)
            } catch {
                throw .file(path: initialRamdisk, error)
            }
        }
        return try LinuxBootLoader.load(image, into: memory, memoryMap: configuration.linuxMemoryMap, options: options)
    }
}
