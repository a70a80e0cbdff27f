/* TLB flush semantics and the accessed/dirty bits the walker writes. Only outcomes the SDM
   guarantees are reported: the new mapping after INVLPG, after a CR3 load (non-global pages), after
   toggling CR4.PGE (global pages too); a not-present entry made present needs no flush; the A bit
   at every level on use, D on the first write (also through a cached translation with D = 0),
   never D on a read or a fetch. Nothing depends on a stale entry surviving a change. */
#include "runtime.h"

const char test_name[] = "tlb";

/* Accesses with compiler barriers, so the page-table reads around them stay in order. */
static u8 rd(u64 va) { barrier(); u8 v = *(volatile u8 *)va; barrier(); return v; }
static void wr(u64 va, u8 v) { barrier(); *(volatile u8 *)va = v; barrier(); }
static void invlpg_noncanonical(void *p) { (void)p; invlpg(0x8000000000000000UL); }

void test_main(void) {
    const u64 W = WINDOW;
    const u64 V = W + 0x10000;
    u8 *p1 = alloc_page(), *p2 = alloc_page(), *p3 = alloc_page();
    p1[0] = 0x11;
    p2[0] = 0x22;
    p3[0] = 0x33;

    map_page(V, (u64)p1, PTE_P | PTE_W);
    u64 *pte = walk_entry(V, 1);
    check_eq("map.read", rd(V), 0x11);

    *pte = (u64)p2 | PTE_P | PTE_W;
    invlpg(V);
    check_eq("invlpg.remap", rd(V), 0x22);

    *pte = (u64)p1 | PTE_P | PTE_W;
    write_cr3(read_cr3());
    check_eq("cr3-reload.remap", rd(V), 0x11);

    *pte = 0;
    invlpg(V);
    check_fault("not-present.read", try_read(V, 1, NULL), 14, 0, V);
    *pte = (u64)p3 | PTE_P | PTE_W;     /* P 0 -> 1: no invalidation needed */
    check_fault("not-present-to-present.no-flush.read", try_read(V, 1, NULL), -1, 0, 0);
    check_eq("not-present-to-present.no-flush.value", rd(V), 0x33);

    *pte = (u64)p3 | PTE_P;             /* write permission removed, then INVLPG */
    invlpg(V);
    check_fault("rw-to-ro.invlpg.write", try_write(V, 1, 0), 14, PF_P | PF_W, V);

    /* Global pages (CR4.PGE = 1). */
    *pte = (u64)p1 | PTE_P | PTE_W | PTE_G;
    invlpg(V);
    check_eq("global.read", rd(V), 0x11);
    *pte = (u64)p2 | PTE_P | PTE_W | PTE_G;
    invlpg(V);
    check_eq("global.invlpg.remap", rd(V), 0x22);
    *pte = (u64)p3 | PTE_P | PTE_W | PTE_G;
    u64 cr4 = read_cr4();
    write_cr4(cr4 & ~(u64)CR4_PGE);
    write_cr4(cr4);
    check_eq("global.pge-toggle.remap", rd(V), 0x33);
    /* With CR4.PGE = 0 the G bit is ignored: a CR3 load flushes the page. */
    write_cr4(cr4 & ~(u64)CR4_PGE);
    check_eq("global.pge0.read", rd(V), 0x33);
    *pte = (u64)p1 | PTE_P | PTE_W | PTE_G;
    write_cr3(read_cr3());
    check_eq("global.pge0.cr3-reload.remap", rd(V), 0x11);
    write_cr4(cr4);

    /* INVLPG of a non-canonical address is a no-op, not a fault. */
    check_fault("invlpg.noncanonical", probe(invlpg_noncanonical, NULL), -1, 0, 0);

    /* A PDE that changes to another page table: INVLPG also drops the paging-structure caches. */
    u64 *pt2 = alloc_page();
    pt2[(V >> 12) & 511] = (u64)p2 | PTE_P | PTE_W;
    u64 *pde = walk_entry(V, 2);
    u64 old_pde = *pde;
    check_eq("pde-change.before", rd(V), 0x11);
    *pde = (u64)pt2 | PTE_P | PTE_W | PTE_U;
    invlpg(V);
    check_eq("pde-change.invlpg.remap", rd(V), 0x22);
    *pde = old_pde;
    invlpg(V);
    check_eq("pde-change.back", rd(V), 0x11);

    /* A second PML4 whose slot 1 maps V elsewhere: the CR3 switch selects the mapping. */
    u64 *pml4b = alloc_page(), *pdptb = alloc_page(), *pdb = alloc_page(), *ptb = alloc_page();
    memcpy(pml4b, (void *)(read_cr3() & PTE_ADDR), 4096);
    pml4b[1] = (u64)pdptb | PTE_P | PTE_W | PTE_U;
    pdptb[(V >> 30) & 511] = (u64)pdb | PTE_P | PTE_W | PTE_U;
    pdb[(V >> 21) & 511] = (u64)ptb | PTE_P | PTE_W | PTE_U;
    ptb[(V >> 12) & 511] = (u64)p3 | PTE_P | PTE_W;
    u64 cr3 = read_cr3();
    write_cr3((u64)pml4b);
    check_eq("cr3-switch.other", rd(V), 0x33);
    write_cr3(cr3);
    check_eq("cr3-switch.back", rd(V), 0x11);

    /* Writing a PTE through a second mapping of its page table. */
    const u64 PTV = W + 0x20000;
    map_page(PTV, (u64)pte & PTE_ADDR, PTE_P | PTE_W);
    ((volatile u64 *)PTV)[(V >> 12) & 511] = (u64)p2 | PTE_P | PTE_W;
    invlpg(V);
    check_eq("pte-through-alias.remap", rd(V), 0x22);

    /* Accessed and dirty bits: cleared at every level, then set by the walker. */
    u64 *pdpte = walk_entry(V, 3), *pml4e = walk_entry(V, 4);
    *pte = (u64)p1 | PTE_P | PTE_W;
    *pde &= ~PTE_A;
    *pdpte &= ~PTE_A;
    *pml4e &= ~PTE_A;
    write_cr3(read_cr3());
    check_eq("ad.before.pte", *pte & (PTE_A | PTE_D), 0);
    (void)rd(V + 5);
    check_eq("ad.read.pte", *pte & (PTE_A | PTE_D), PTE_A);
    check_eq("ad.read.pde", *pde & PTE_A, PTE_A);
    check_eq("ad.read.pdpte", *pdpte & PTE_A, PTE_A);
    check_eq("ad.read.pml4e", *pml4e & PTE_A, PTE_A);
    wr(V + 6, 1);        /* the cached translation has D = 0 */
    check_eq("ad.write-after-read.pte", *pte & (PTE_A | PTE_D), PTE_A | PTE_D);
    *pte = (u64)p2 | PTE_P | PTE_W;
    invlpg(V);
    wr(V + 7, 2);
    check_eq("ad.write.pte", *pte & (PTE_A | PTE_D), PTE_A | PTE_D);
    /* A fetch sets A, not D. */
    u8 *code = alloc_page();
    code[0] = 0xC3;
    const u64 C = W + 0x30000;
    map_page(C, (u64)code, PTE_P | PTE_W);
    u64 *cpte = walk_entry(C, 1);
    check_fault("ad.fetch", try_exec(C), -1, 0, 0);
    check_eq("ad.fetch.pte", *cpte & (PTE_A | PTE_D), PTE_A);
    /* 2 MiB and 1 GiB pages: A and D in the leaf. */
    const u64 L2 = W + 0x40000000UL, L1 = W + 0x200000000UL;
    u64 *pde2 = walk_entry(L2, 2), *pdpte1 = walk_entry(L1, 3);
    *pde2 = 0x400000 | PTE_P | PTE_W | PTE_PS;
    *pdpte1 = 0 | PTE_P | PTE_W | PTE_PS;
    invlpg(L2);
    invlpg(L1 + 0x400000);
    (void)rd(L2 + 0x1000);
    check_eq("ad.2m.read", *pde2 & (PTE_A | PTE_D), PTE_A);
    wr(L2 + 0x1001, 1);
    check_eq("ad.2m.write", *pde2 & (PTE_A | PTE_D), PTE_A | PTE_D);
    (void)rd(L1 + 0x401000);
    check_eq("ad.1g.read", *pdpte1 & (PTE_A | PTE_D), PTE_A);
    wr(L1 + 0x401001, 1);
    check_eq("ad.1g.write", *pdpte1 & (PTE_A | PTE_D), PTE_A | PTE_D);
}
