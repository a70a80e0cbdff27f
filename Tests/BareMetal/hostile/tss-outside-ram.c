/* Hostile guest: a TSS outside RAM. TR is loaded with a TSS whose base maps to physical 64 GiB,
   then an interrupt through an IST gate and one from CPL 3 need it (IST pointer, RSP0). */
#include "runtime.h"

const char test_name[] = "hostile-tss-outside-ram";

void test_main(void) {
    const u64 TSSV = WINDOW + 0x10000;
    map_page(TSSV, 0x1000000000UL, PTE_P | PTE_W);
    u64 *d = &gdt[SEL_SPARE / 8];
    d[0] = 0x67 | ((TSSV & 0xFFFFFF) << 16) | (0x89UL << 40) | (((TSSV >> 24) & 0xFF) << 56);
    d[1] = TSSV >> 32;
    __asm__ volatile("ltr %w0" :: "r"((u16)SEL_SPARE));
    puts_dbg("tr-outside-ram: loaded\n");
    set_gate(0x42, isr_stub(0x42), 0xE, 0, 1, 1);
    __asm__ volatile("int $0x42");
    puts_dbg("ist-from-tss-outside-ram: returned\n");
    i64 r = run_user(user_read8, (u64)user_stack);
    kprintf("cpl3-with-tss-outside-ram: %ld\n", r);
    /* And a TSS at a linear address with no mapping at all. */
    const u64 NOWHERE = WINDOW + 0x7000000000UL;
    d[0] = 0x67 | ((NOWHERE & 0xFFFFFF) << 16) | (0x89UL << 40) | (((NOWHERE >> 24) & 0xFF) << 56);
    d[1] = NOWHERE >> 32;
    __asm__ volatile("ltr %w0" :: "r"((u16)SEL_SPARE));
    __asm__ volatile("int $0x42");
    puts_dbg("still running after IST through an unmapped TSS\n");
}
