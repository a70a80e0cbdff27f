/* Exception delivery: the frames of INT3, UD2, #DE and INT n (vector, saved RIP, CS, SS, where the
   frame lands), IST stacks, not-present gates and the IDT limit (#NP/#GP with the IDT bit in the
   error code), a #PF during the delivery of an interrupt, #DF from #PF-during-#PF and from
   #GP-during-#GP, and RDMSR/WRMSR of an MSR that does not exist (#GP(0)). */
#include "runtime.h"

const char test_name[] = "exceptions";

/* Fault sites: each is called, and faults (or traps) at a known label. */
__asm__(
    ".text\n"
    ".globl int3_site, int3_after\n"
    "int3_site: int3\n"
    "int3_after: ret\n"
    ".globl ud2_site\n"
    "ud2_site: ud2\n"
    "ret\n"
    ".globl de_site\n"
    "de_entry: xor %edx, %edx\n mov $1, %eax\n xor %ecx, %ecx\n"
    "de_site: div %ecx\n ret\n"
    ".globl de_entry, de64_entry, de64_site\n"
    "de64_entry: mov $0x8000000000000000, %rax\n cqo\n mov $-1, %rcx\n"
    "de64_site: idiv %rcx\n ret\n"
    ".globl int40_site, int40_after\n"
    "int40_site: int $0x40\n"
    "int40_after: ret\n"
    ".globl int41_site\n"
    "int41_site: int $0x41\n ret\n"
    ".globl int44_site\n"
    "int44_site: int $0x44\n ret\n"
    ".globl int50_site\n"
    "int50_site: int $0x50\n ret\n"
    ".globl into_site\n"
    "into_site: .byte 0xCE\n ret\n"
    ".globl aaa_site\n"
    "aaa_site: .byte 0x37\n ret\n"
    ".globl badsel_site\n"
    "badsel_site: mov $0xFFF8, %eax\n mov %eax, %ds\n ret\n");
extern u8 int3_site[], int3_after[], ud2_site[], de_entry[], de_site[], de64_entry[], de64_site[],
    int40_site[], int40_after[], int41_site[], int44_site[], int50_site[], into_site[], aaa_site[], badsel_site[];

/* call_site(fn): records RSP, then calls fn. */
__asm__(".text\ncall_site:\n mov %rsp, call_rsp\n call *%rdi\n ret\n");
void call_site(void *fn);
u64 call_rsp;

/* Checks the saved frame of the last fault: RIP, CS, SS, IF clear, and that the frame sits where
   the processor puts it on the current stack: RSP aligned down to 16, then 5 (or 6) quadwords. */
static void check_frame(const char *name, u64 rip) {
    kprintf("%s.frame: ", name);
    u64 old_rsp = call_rsp - 8;         /* inside the called site: the return address is pushed */
    int ok = last_fault.rip == rip && last_fault.cs == SEL_KCODE && last_fault.ss == SEL_KDATA &&
             !(last_fault.rflags & 0x200) && (last_fault.rflags & 2) && last_fault.rsp == old_rsp &&
             last_fault.frame_addr == (old_rsp & ~15UL) - 40;
    puts_dbg(ok ? "ok\n" : "FAIL\n");
    if (!ok) {
        failures++;
        kprintf("  rip=%#lx (want %#lx) cs=%#lx ss=%#lx rflags=%#lx rsp=%#lx (want %#lx) frame=%#lx\n",
                last_fault.rip, rip, last_fault.cs, last_fault.ss, last_fault.rflags, last_fault.rsp, old_rsp,
                last_fault.frame_addr);
    }
}

static u64 ist_frame;
static int ist_handler(struct trap_frame *f) {
    ist_frame = (u64)&f->rip;
    return 1;
}

void test_main(void) {
    int v;

    v = probe(call_site, int3_site);
    check_fault("int3", v, 3, 0, 0);
    check_frame("int3", (u64)int3_after);
    v = probe(call_site, ud2_site);
    check_fault("ud2", v, 6, 0, 0);
    check_frame("ud2", (u64)ud2_site);
    v = probe(call_site, de_entry);
    check_fault("div-by-zero", v, 0, 0, 0);
    check_eq("div-by-zero.rip", last_fault.rip, (u64)de_site);
    v = probe(call_site, de64_entry);
    check_fault("idiv64-overflow", v, 0, 0, 0);
    check_eq("idiv64-overflow.rip", last_fault.rip, (u64)de64_site);
    v = probe(call_site, into_site);
    check_fault("into-in-64-bit-mode", v, 6, 0, 0);
    check_eq("into-in-64-bit-mode.rip", last_fault.rip, (u64)into_site);
    v = probe(call_site, aaa_site);
    check_fault("aaa-in-64-bit-mode", v, 6, 0, 0);
    v = probe(call_site, int40_site);
    check_fault("int-0x40", v, 0x40, 0, 0);
    check_frame("int-0x40", (u64)int40_after);
    v = probe(call_site, badsel_site);
    check_fault("gp.selector-beyond-gdt", v, 13, 0xFFF8, 0);

    /* A not-present gate: #NP(vector * 8 + 2); a vector beyond the IDT limit: #GP(vector * 8 + 2).
       Only the low three bits (EXT, IDT, TI) are reported: QEMU 7.2's TCG puts vector * 16 in
       the index field in long mode. */
    fault_ec_mask = 7;
    set_gate(0x41, isr_stub(0x41), 0xE, 0, 0, 0);
    v = probe(call_site, int41_site);
    check_fault("np.gate-not-present", v, 11, 0x41 * 8 + 2, 0);
    check_eq("np.gate-not-present.rip", last_fault.rip, (u64)int41_site);
    set_gate(0x41, isr_stub(0x41), 0xE, 0, 0, 1);
    load_idt((u64)idt, 0x50 * 16 - 1);
    v = probe(call_site, int50_site);
    load_idt((u64)idt, sizeof idt - 1);
    check_fault("gp.beyond-idt-limit", v, 13, 0x50 * 8 + 2, 0);
    check_eq("gp.beyond-idt-limit.rip", last_fault.rip, (u64)int50_site);
    fault_ec_mask = ~0UL;

    /* IST: the frame sits at the top of the IST stack (16-aligned) minus 40 (no error code) or 48. */
    set_gate(0x42, isr_stub(0x42), 0xE, 0, 3, 1);
    set_handler(0x42, ist_handler);
    __asm__ volatile("int $0x42" ::: "memory");
    check_eq("ist.int.frame-offset", IST_TOP(3) - ist_frame, 40);
    set_gate(6, isr_stub(6), 0xE, 0, 2, 1);
    v = probe(call_site, ud2_site);
    check_fault("ist.ud2", v, 6, 0, 0);
    check_eq("ist.ud2.frame-offset", IST_TOP(2) - last_fault.frame_addr, 40);
    set_gate(13, isr_stub(13), 0xE, 0, 2, 1);
    v = probe(call_site, badsel_site);
    check_fault("ist.gp", v, 13, 0xFFF8, 0);
    check_eq("ist.gp.frame-offset", IST_TOP(2) - last_fault.frame_addr, 40);
    set_gate(6, isr_stub(6), 0xE, 0, 0, 1);
    set_gate(13, isr_stub(13), 0xE, 0, 0, 1);
    /* An IST pointer that is not 16-aligned is aligned down. */
    tss.ist[3] = IST_TOP(3) - 8;
    __asm__ volatile("int $0x42" ::: "memory");
    check_eq("ist.unaligned.frame-offset", IST_TOP(3) - ist_frame, 56);
    tss.ist[3] = IST_TOP(3);

    /* A #PF while pushing the frame of INT 0x44 (its IST stack is not mapped): delivered as a #PF
       (a benign event then a page fault) with the INT's RIP, a supervisor write, CR2 in the frame. */
    const u64 HOLE = WINDOW + 0x51000;  /* mapped tables, not-present page */
    map_page(HOLE, 0, 0);
    tss.ist[4] = HOLE + 0x1000;
    set_gate(0x44, isr_stub(0x44), 0xE, 0, 4, 1);
    v = probe(call_site, int44_site);
    kprintf("pf-during-int.delivery: vec=%d ec=%#lx rip-is-int: %s, cr2-in-frame: %s\n", v, last_fault.ec,
            last_fault.rip == (u64)int44_site ? "ok" : "FAIL",
            last_fault.cr2 >= HOLE + 0x1000 - 40 && last_fault.cr2 < HOLE + 0x1000 ? "ok" : "FAIL");
    if (v != 14 || last_fault.ec != PF_W || last_fault.rip != (u64)int44_site ||
        !(last_fault.cr2 >= HOLE + 0x1000 - 40 && last_fault.cr2 < HOLE + 0x1000))
        failures++;

    /* #DF: a #PF whose delivery faults (its IST stack is not mapped). */
    tss.ist[5] = HOLE + 0x1000;
    set_gate(14, isr_stub(14), 0xE, 0, 5, 1);
    set_gate(8, isr_stub(8), 0xE, 0, 6, 1);
    v = try_read(WINDOW + 0x52000, 1, NULL);
    set_gate(14, isr_stub(14), 0xE, 0, 0, 1);
    check_fault("df.pf-during-pf", v, 8, 0, 0);
    check_eq("df.pf-during-pf.frame-offset", IST_TOP(6) - last_fault.frame_addr, 40);
    /* #DF: a #GP whose gate is not present (#NP during #GP: two contributory exceptions). */
    set_gate(13, isr_stub(13), 0xE, 0, 0, 0);
    v = probe(call_site, badsel_site);
    set_gate(13, isr_stub(13), 0xE, 0, 0, 1);
    check_fault("df.np-during-gp", v, 8, 0, 0);
    /* Not a #DF: a #NP for INT n's gate is delivered as such (a benign event, then #NP). */
    set_gate(0x41, isr_stub(0x41), 0xE, 0, 0, 0);
    v = probe(call_site, int41_site);
    set_gate(0x41, isr_stub(0x41), 0xE, 0, 0, 1);
    fault_ec_mask = 7;
    check_fault("np-during-int.is-np", v, 11, 0x41 * 8 + 2, 0);
    fault_ec_mask = ~0UL;
    /* Architecture-only: the IDT error code's index is the vector (QEMU 7.2's TCG: vector * 2). */
    if (arch_only("idt-error-code.index")) {
        set_gate(0x41, isr_stub(0x41), 0xE, 0, 0, 0);
        v = probe(call_site, int41_site);
        set_gate(0x41, isr_stub(0x41), 0xE, 0, 0, 1);
        check_fault("arch-only np.gate-not-present.full-ec", v, 11, 0x41 * 8 + 2, 0);
    }
    set_gate(8, isr_stub(8), 0xE, 0, 0, 1);
}
