/* CPL 3: IRETQ into user mode, SYSCALL/SYSRET (RCX, R11, SFMASK, the selectors from STAR), INT n
   through a DPL 3 gate onto RSP0 and IRETQ back, a hardware interrupt taken at CPL 3, INT n and INT3 through DPL 0 gates (#GP),
   privileged instructions (#GP(0)), port I/O under IOPL 0, IOPL 3 and the TSS I/O bitmap. */
#include "runtime.h"

const char test_name[] = "user";

/* User code: each piece ends with SYS_EXIT (RAX = 0) and its result in RDI. */
__asm__(
    ".section .user.text, \"ax\"\n"
    "u_segs: mov %cs, %eax\n mov %ss, %edx\n shl $16, %edx\n or %edx, %eax\n mov %eax, %edi\n xor %eax, %eax\n syscall\n"
    "u_echo: mov $1, %eax\n mov $41, %edi\n syscall\n mov %rax, %rdi\n xor %eax, %eax\n syscall\n"
    "u_rcx: lea 1f(%rip), %rbx\n mov $2, %eax\n syscall\n"
    "1: xor %edi, %edi\n cmp %rax, %rbx\n sete %dil\n xor %eax, %eax\n syscall\n"
    "u_kflags: mov $3, %eax\n stc\n std\n syscall\n"
    "   setc %bl\n pushfq\n pop %rcx\n cld\n and $0x400, %ecx\n shl $24, %rcx\n movzbl %bl, %ebx\n shl $32, %rbx\n"
    "   mov %rax, %rdi\n and $0x10700, %edi\n or %rbx, %rdi\n or %rcx, %rdi\n xor %eax, %eax\n syscall\n"
    "u_ksegs: mov $4, %eax\n syscall\n mov %rax, %rdi\n xor %eax, %eax\n syscall\n"
    "u_int80: mov $5, %eax\n mov %rsp, %rbx\n int $0x80\n"
    "   mov %rax, %rdi\n xor %eax, %eax\n cmp %rsp, %rbx\n jne 2f\n syscall\n2: mov $-1, %rdi\n syscall\n"
    "u_int81: int $0x81\n xor %eax, %eax\n syscall\n"
    "u_int3: int3\n xor %eax, %eax\n xor %edi, %edi\n syscall\n"
    "u_cli: cli\n xor %eax, %eax\n xor %edi, %edi\n syscall\n"
    "u_hlt: hlt\n xor %eax, %eax\n syscall\n"
    "u_movcr3: mov %cr3, %rax\n xor %eax, %eax\n syscall\n"
    "u_rdmsr: mov $0x10, %ecx\n rdmsr\n xor %eax, %eax\n syscall\n"
    "u_lgdt: lgdt (%rsp)\n xor %eax, %eax\n syscall\n"
    "u_swapgs: swapgs\n xor %eax, %eax\n syscall\n"
    "u_wbinvd: wbinvd\n xor %eax, %eax\n syscall\n"
    "u_in80: in $0x80, %al\n xor %eax, %eax\n xor %edi, %edi\n syscall\n"
    "u_inw7f: mov $0x7f, %dx\n in %dx, %ax\n xor %eax, %eax\n xor %edi, %edi\n syscall\n"
    "u_out81: mov $0x81, %dx\n out %al, %dx\n xor %eax, %eax\n xor %edi, %edi\n syscall\n"
    "u_exit9: mov $9, %edi\n xor %eax, %eax\n syscall\n"
    ".text\n");
extern u8 u_segs[], u_echo[], u_rcx[], u_kflags[], u_ksegs[], u_int80[], u_int81[], u_int3[], u_cli[], u_hlt[],
    u_movcr3[], u_rdmsr[], u_lgdt[], u_swapgs[], u_wbinvd[], u_in80[], u_inw7f[], u_out81[], u_exit9[];

static i64 run(u8 *code) { return run_user((void (*)(u64))code, 0); }

static struct trap_frame int80;
static u64 int80_at;
static int int80_handler(struct trap_frame *f) {
    int80 = *f;
    int80_at = (u64)&f->rip;
    f->rax += 100;
    return 1;
}

static void check_gp0(const char *name, u8 *code) {
    check_fault(name, user_fault(run(code)), 13, 0, 0);
}

void test_main(void) {
    check_eq("iretq-to-cpl3.segments", (u64)run(u_segs), SEL_UCODE | (u64)SEL_UDATA << 16);
    check_eq("syscall.echo", (u64)run(u_echo), 42);
    check_eq("syscall.rcx-is-next-rip", (u64)run(u_rcx), 1);
    check_eq("syscall.kernel-segments", (u64)run(u_ksegs), SEL_KCODE | (u64)SEL_KDATA << 16);
    /* SFMASK clears IF, TF, DF, AC in the kernel; SYSRET restores RFLAGS from R11 (CF, DF set). */
    sti();
    u64 r = (u64)run(u_kflags);
    cli();
    check_eq("syscall.sfmask-and-sysret-rflags", r, (1UL << 32) | (1UL << 34));

    /* INT 0x80 through a DPL 3 gate: frame on RSP0 with the user's CS/SS/RSP, IRETQ back. */
    set_gate(0x80, isr_stub(0x80), 0xE, 3, 0, 1);
    set_handler(0x80, int80_handler);
    check_eq("int80.result", (u64)run(u_int80), 105);
    check_eq("int80.frame.cs", int80.cs, SEL_UCODE);
    check_eq("int80.frame.ss", int80.ss, SEL_UDATA);
    check_eq("int80.frame.rsp-is-user-stack", int80.rsp > (u64)user_stack && int80.rsp <= USER_STACK_TOP, 1);
    check_eq("int80.frame.on-rsp0", tss.rsp[0] - int80_at, 40);
    check_eq("int80.frame.rip-after-int", int80.rip, (u64)u_int80 + 5 + 3 + 2);

    /* A hardware interrupt (a self-IPI left pending while IF = 0) taken right after IRETQ enters
       CPL 3 with IF = 1: its frame is on RSP0 with the user's CS and first RIP; IRETQ back. */
    lapic_enable();
    set_handler(0x30, int80_handler);
    int80.cs = 0;
    self_ipi(0x30);
    user_rflags_or = 0x200;
    r = (u64)run(u_exit9);
    user_rflags_or = 0;
    lapic_eoi();
    check_eq("irq-at-cpl3.result", r, 9);
    check_eq("irq-at-cpl3.frame.cs", int80.cs, SEL_UCODE);
    check_eq("irq-at-cpl3.frame.rip-is-first-user-instruction", int80.rip, (u64)u_exit9);
    check_eq("irq-at-cpl3.frame.on-rsp0", tss.rsp[0] - int80_at, 40);

    /* DPL 0 gates at CPL 3: #GP(vector * 8 + 2); only EXT/IDT/TI are reported (see exceptions). */
    fault_ec_mask = 7;
    check_fault("int81.dpl0-gate", user_fault(run(u_int81)), 13, 0x81 * 8 + 2, 0);
    check_fault("int3.dpl0-gate", user_fault(run(u_int3)), 13, 3 * 8 + 2, 0);
    fault_ec_mask = ~0UL;
    set_gate(3, isr_stub(3), 0xE, 3, 0, 1);
    check_fault("int3.dpl3-gate", user_fault(run(u_int3)), 3, 0, 0);
    check_eq("int3.dpl3-gate.cs", last_fault.cs, SEL_UCODE);
    set_gate(3, isr_stub(3), 0xE, 0, 0, 1);

    /* Privileged instructions at CPL 3. */
    check_gp0("cpl3.cli", u_cli);
    check_gp0("cpl3.hlt", u_hlt);
    check_gp0("cpl3.mov-from-cr3", u_movcr3);
    check_gp0("cpl3.rdmsr", u_rdmsr);
    check_gp0("cpl3.lgdt", u_lgdt);
    check_gp0("cpl3.swapgs", u_swapgs);
    check_gp0("cpl3.wbinvd", u_wbinvd);

    /* Port I/O at CPL 3: IOPL 0 without a bitmap faults; the TSS bitmap allows single ports;
       IOPL 3 allows everything (and CLI). */
    check_gp0("cpl3.iopl0.in-0x80", u_in80);
    tss.iomap_base = 104;
    tss_block.iomap[0x80 / 8] &= (u8) ~(1 << (0x80 % 8));
    check_fault("cpl3.bitmap.in-0x80", user_fault(run(u_in80)), -1, 0, 0);
    check_gp0("cpl3.bitmap.inw-0x7f", u_inw7f);
    check_gp0("cpl3.bitmap.out-0x81", u_out81);
    tss_block.iomap[0x80 / 8] = 0xFF;
    tss.iomap_base = TSS_NO_IOMAP;
    u64 flags = read_flags();
    __asm__ volatile("push %0; popfq" :: "r"(flags | 0x3000) : "cc");
    check_fault("cpl3.iopl3.in-0x80", user_fault(run(u_in80)), -1, 0, 0);
    check_fault("cpl3.iopl3.cli", user_fault(run(u_cli)), -1, 0, 0);
    __asm__ volatile("push %0; popfq" :: "r"(flags) : "cc");
}
