/* Hostile guest: page tables that point at themselves. PML4 slot 1 points at the PML4 (a recursive
   map: every level of the walk reads the PML4 again), the kernel reads and then writes its own
   tables through it, finally filling the PML4 with entries that point at the PML4 with every
   flag set (reserved bits too): the walk can no longer reach anything. */
#include "runtime.h"

const char test_name[] = "hostile-pt-loop";

void test_main(void) {
    u64 *pml4 = (u64 *)(read_cr3() & PTE_ADDR);
    pml4[1] = (u64)pml4 | PTE_P | PTE_W;
    write_cr3(read_cr3());
    /* WINDOW + (1 << 30) + (1 << 21) + (1 << 12): PML4 -> PML4 -> PML4 -> PML4 -> PML4 page. */
    const u64 self = WINDOW | (1UL << 30) | (1UL << 21) | (1UL << 12);
    u64 v = 0;
    int f = try_read(self + 8, 8, &v);
    kprintf("recursive.read: fault %d entry-1-points-at-pml4 %d\n", f, (v & PTE_ADDR) == (u64)pml4);
    for (int i = 2; i < 512; i++) ((volatile u64 *)self)[i] = (u64)pml4 | PTE_P | PTE_W | PTE_PS;
    write_cr3(read_cr3());
    f = try_read(0x0000010000000000UL, 8, &v);
    kprintf("ps-in-recursive-pml4e.read: fault %d\n", f);
    puts_dbg("pml4 filled with itself\n");
    for (int i = 0; i < 512; i++) ((volatile u64 *)self)[i] = (u64)pml4 | 0xFFF | (0xFFFUL << 52);
    write_cr3(read_cr3());
    puts_dbg("still running after the PML4 pointed only at itself\n");
}
