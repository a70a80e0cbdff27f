/* Hostile guest: page tables that point outside RAM. A leaf onto physical 64 GiB (no RAM there), a
   PDPT entry whose page directory is at 64 GiB, then CR3 itself at 64 GiB: the next fetch walks
   tables that are not RAM. Ends in a page fault cascade (a triple fault) or whatever the platform
   reads from unbacked addresses; the host must stay up and bounded. */
#include "runtime.h"

const char test_name[] = "hostile-pt-outside-ram";

void test_main(void) {
    const u64 FAR = 0x1000000000UL;
    u64 v = 0;
    map_page(WINDOW, FAR, PTE_P | PTE_W);
    int f = try_read(WINDOW, 8, &v);
    kprintf("leaf-outside-ram.read: fault %d value %#lx\n", f, v);
    f = try_write(WINDOW, 8, 0x1234);
    kprintf("leaf-outside-ram.write: fault %d\n", f);
    *walk_entry(WINDOW + 0x40000000UL, 3) = FAR | PTE_P | PTE_W;
    invlpg(WINDOW + 0x40000000UL);
    f = try_read(WINDOW + 0x40000000UL, 8, &v);
    kprintf("directory-outside-ram.read: fault %d\n", f);
    puts_dbg("cr3-outside-ram\n");
    write_cr3(FAR);
    puts_dbg("still running with CR3 outside RAM\n");
}
