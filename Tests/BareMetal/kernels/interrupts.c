/* Interrupts from the local APIC (xAPIC at 0xFEE00000): a self-IPI held pending while IF = 0
   (IRR), delivered exactly after the instruction that follows STI (the STI shadow), HLT woken by a
   self-IPI and by the APIC timer (one-shot and periodic), priority order of pending vectors, ISR
   during a handler, TPR masking, an interrupt through a not-present gate (#NP with EXT = 1), and
   the MOV SS shadow seen by single-stepping (TF). */
#include "runtime.h"

const char test_name[] = "interrupts";

__asm__(
    ".text\n"
    ".globl sti_shadow, sti_next, sti_after\n"
    "sti_shadow: sti\n"
    "sti_next: nop\n"
    "sti_after: nop\n"
    " cli\n ret\n"
    ".globl sti_hlt, hlt_after\n"
    "sti_hlt: sti\n hlt\n"
    "hlt_after: cli\n ret\n"
    ".globl movss_steps, ms_a, ms_b1, ms_b2, ms_c, ms_d, ms_e\n"
    "movss_steps: mov %ss, %eax\n pushfq\n orq $0x100, (%rsp)\n popfq\n"
    "ms_a: nop\n"
    "ms_b1: mov %eax, %ecx\n"
    "ms_b2: mov %ecx, %ss\n"
    "ms_c: nop\n"
    "ms_d: nop\n"
    "ms_e: pushfq\n andq $~0x100, (%rsp)\n popfq\n ret\n");
extern u8 sti_shadow[], sti_next[], sti_after[], sti_hlt[], hlt_after[], movss_steps[], ms_a[], ms_b1[], ms_b2[],
    ms_c[], ms_d[], ms_e[];

static volatile int seen[16];
static volatile int nseen;
static volatile u64 seen_rip;
static volatile u32 isr_in_handler;

static int irq_handler(struct trap_frame *f) {
    if (nseen < 16) seen[nseen] = (int)f->vec;
    nseen++;
    seen_rip = f->rip;
    isr_in_handler = lapic_read(0x100 + (u32)(f->vec / 32) * 0x10) & (1u << (f->vec % 32));
    lapic_eoi();
    return 1;
}

static u64 steps[16];
static int nsteps;
static int db_handler(struct trap_frame *f) {
    if (f->rip > (u64)ms_a && f->rip <= (u64)ms_e && nsteps < 16) steps[nsteps++] = f->rip;
    return 1;
}

static int irr(int vec) { return (lapic_read(0x200 + (u32)(vec / 32) * 0x10) >> (vec % 32)) & 1; }
static void call(u8 *code) { ((void (*)(void))code)(); }
static void wait_for(int n) {
    for (int i = 0; i < 100000 && nseen < n; i++) __asm__ volatile("sti; nop; cli" ::: "memory");
}

void test_main(void) {
    lapic_enable();
    for (int v = 0x30; v < 0x60; v++) set_handler(v, irq_handler);

    /* Pending while IF = 0; delivered after the instruction that follows STI. */
    self_ipi(0x30);
    for (volatile int i = 0; i < 100; i++) {}
    check_eq("ipi.pending-with-if0.irr", irr(0x30), 1);
    check_eq("ipi.pending-with-if0.not-delivered", nseen, 0);
    call(sti_shadow);
    check_eq("ipi.sti-shadow.delivered", nseen, 1);
    check_eq("ipi.sti-shadow.rip-is-after-next", seen_rip, (u64)sti_after);
    check_eq("ipi.in-service-during-handler", isr_in_handler != 0, 1);
    check_eq("ipi.irr-after", irr(0x30), 0);

    /* STI; HLT with a pending interrupt: HLT runs (in the shadow) and is woken at once. */
    nseen = 0;
    self_ipi(0x31);
    call(sti_hlt);
    check_eq("hlt.woken-by-ipi", nseen, 1);
    check_eq("hlt.woken-by-ipi.rip-after-hlt", seen_rip, (u64)hlt_after);

    /* Two pending vectors: the higher one first. */
    nseen = 0;
    self_ipi(0x41);
    self_ipi(0x52);
    self_ipi(0x37);
    wait_for(3);
    check_eq("priority.count", nseen, 3);
    check_eq("priority.first", seen[0], 0x52);
    check_eq("priority.second", seen[1], 0x41);
    check_eq("priority.third", seen[2], 0x37);

    /* TPR: class 4 blocks vectors 0x30..0x4F. */
    nseen = 0;
    lapic_write(0x80, 0x40);
    self_ipi(0x45);
    wait_for(1);
    check_eq("tpr.blocked", nseen, 0);
    check_eq("tpr.blocked.irr", irr(0x45), 1);
    lapic_write(0x80, 0x00);
    wait_for(1);
    check_eq("tpr.lowered.delivered", nseen, 1);
    check_eq("tpr.lowered.vector", seen[0], 0x45);

    /* The APIC timer, one-shot: HLT until it fires; the current count stops at 0. */
    nseen = 0;
    lapic_write(0x3E0, 0xB);            /* divide by 1 */
    lapic_write(0x320, 0x33);           /* one-shot, vector 0x33 */
    lapic_write(0x380, 20000);
    for (int i = 0; i < 1000 && nseen == 0; i++) __asm__ volatile("sti; hlt; cli" ::: "memory");
    check_eq("timer.oneshot.fired", nseen, 1);
    check_eq("timer.oneshot.vector", seen[0], 0x33);
    check_eq("timer.oneshot.current-count", lapic_read(0x390), 0);
    /* Periodic: three ticks, each waking HLT. */
    nseen = 0;
    lapic_write(0x320, 0x20034);        /* periodic, vector 0x34 */
    lapic_write(0x380, 20000);
    for (int i = 0; i < 1000 && nseen < 3; i++) __asm__ volatile("sti; hlt; cli" ::: "memory");
    lapic_write(0x320, 0x10034);        /* masked */
    lapic_write(0x380, 0);
    check_eq("timer.periodic.three-ticks", nseen >= 3, 1);
    check_eq("timer.periodic.vector", seen[2], 0x34);

    /* An external interrupt through a not-present gate: #NP(vector * 8 + 2 + EXT). Only the IDT and
       TI bits are reported: QEMU 7.2's TCG leaves EXT clear (and the index is vector * 16). */
    set_gate(0x46, isr_stub(0x46), 0xE, 0, 0, 0);
    self_ipi(0x46);
    int v = probe((void (*)(void *))call, sti_shadow);
    lapic_eoi();
    set_gate(0x46, isr_stub(0x46), 0xE, 0, 0, 1);
    fault_ec_mask = 6;
    check_fault("np.external", v, 11, 0x46 * 8 + 3, 0);
    fault_ec_mask = ~0UL;
    if (arch_only("np.external.full-ec")) {
        set_gate(0x46, isr_stub(0x46), 0xE, 0, 0, 0);
        self_ipi(0x46);
        v = probe((void (*)(void *))call, sti_shadow);
        lapic_eoi();
        set_gate(0x46, isr_stub(0x46), 0xE, 0, 0, 1);
        check_fault("arch-only np.external.full-ec", v, 11, 0x46 * 8 + 3, 0);
    }

    /* MOV SS: no single-step trap after it; the next one comes after the following instruction. */
    set_handler(1, db_handler);
    call(movss_steps);
    set_handler(1, NULL);
    kprintf("movss.single-steps:");
    for (int i = 0; i < nsteps; i++) {
        u64 r = steps[i];
        kprintf(" %s", r == (u64)ms_b1 ? "b1" : r == (u64)ms_b2 ? "b2" : r == (u64)ms_c ? "c" :
                       r == (u64)ms_d ? "d" : r == (u64)ms_e ? "e" : "?");
    }
    int ok = nsteps == 4 && steps[0] == (u64)ms_b1 && steps[1] == (u64)ms_b2 && steps[2] == (u64)ms_d &&
             steps[3] == (u64)ms_e;
    kprintf("%s\n", ok ? "" : " FAIL (want b1 b2 d e)");
    if (!ok) failures++;
}
