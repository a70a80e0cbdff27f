// EmuCore: guest memory bus, event loop, IRQ lines, clocks and device protocols.
