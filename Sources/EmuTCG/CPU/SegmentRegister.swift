/// The six segment registers, numbered in their instruction encoding order (ES, CS, SS, DS, FS,
/// GS), as the ModRM reg field of MOV Sreg and the segment-override prefixes name them. The
/// decoder names them in instructions; the system state keeps one descriptor cache for each.
public enum SegmentRegister: Int, CaseIterable, Sendable {
    case es = 0, cs, ss, ds, fs, gs
}
