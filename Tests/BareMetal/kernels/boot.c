/* The state the Multiboot loader leaves (what the Multiboot v1 specification defines): EAX magic,
   protected mode with paging off, IF = 0, VM = 0; then the runtime's own setup: long mode, NX and
   SYSCALL enabled, the GDT/IDT/TSS loaded. */
#include "runtime.h"

const char test_name[] = "boot";
extern u32 boot_cr0, boot_eflags;

void test_main(void) {
    check_eq("entry.cr0.pe", boot_cr0 & CR0_PE, CR0_PE);
    check_eq("entry.cr0.pg", boot_cr0 & CR0_PG, 0);
    check_eq("entry.eflags.if", boot_eflags & 0x200, 0);
    check_eq("entry.eflags.vm", boot_eflags & 0x20000, 0);
    u64 efer = rdmsr(MSR_EFER);
    check_eq("efer.lme-lma-nxe-sce", efer & (EFER_LME | EFER_LMA | EFER_NXE | EFER_SCE),
             EFER_LME | EFER_LMA | EFER_NXE | EFER_SCE);
    check_eq("cr0.pg-pe-wp", read_cr0() & (CR0_PG | CR0_PE | CR0_WP), CR0_PG | CR0_PE | CR0_WP);
    check_eq("cr4.pae-pge", read_cr4() & (CR4_PAE | CR4_PGE), CR4_PAE | CR4_PGE);
    u16 cs, ss, tr;
    __asm__ volatile("mov %%cs, %0; mov %%ss, %1; str %2" : "=r"(cs), "=r"(ss), "=r"(tr));
    check_eq("cs", cs, SEL_KCODE);
    check_eq("ss", ss, SEL_KDATA);
    check_eq("tr", tr, SEL_TSS);
    struct { u16 limit; u64 base; } __attribute__((packed)) g, i;
    __asm__ volatile("sgdt %0; sidt %1" : "=m"(g), "=m"(i));
    check_eq("gdtr", g.base == (u64)gdt && g.limit == gdtr.limit, 1);
    check_eq("idtr", i.base == (u64)idt && i.limit == sizeof idt - 1, 1);
    /* The TSS descriptor turned busy when LTR loaded it. */
    check_eq("tss-descriptor.busy", (gdt[SEL_TSS / 8] >> 40) & 0xF, 0xB);
    check_eq("flags.if", read_flags() & 0x200, 0);
}
