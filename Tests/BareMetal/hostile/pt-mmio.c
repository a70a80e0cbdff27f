/* Hostile guest: page tables that point at MMIO. A PDPT entry whose page directory is the local
   APIC's page (the walker reads APIC registers as entries), a leaf onto the IOAPIC, then CR3 at the
   APIC page. */
#include "runtime.h"

const char test_name[] = "hostile-pt-mmio";

void test_main(void) {
    u64 v = 0;
    *walk_entry(WINDOW, 3) = LAPIC | PTE_P | PTE_W;
    invlpg(WINDOW);
    for (u64 off = 0; off < 0x40000000UL; off += 0x200000) {
        int f = try_read(WINDOW + off, 8, &v);
        if (f >= 0 && f != 14) kprintf("walk-through-apic.read %#lx: fault %d\n", off, f);
        (void)try_write(WINDOW + off + 0x1000, 4, 0);
    }
    puts_dbg("walk-through-apic: done\n");
    puts_dbg("cr3-at-apic\n");
    write_cr3(LAPIC);
    puts_dbg("still running with CR3 at the APIC\n");
}
