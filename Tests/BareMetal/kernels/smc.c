/* Self-modifying and cross-modifying code, as the SDM defines it (11.6: detection by physical
   address; a jump between the store and the modified code when the store uses another linear
   address). Code is written through a writable alias of its page, through the identity mapping,
   through its own (writable) linear address without a jump, across a page boundary, and the same
   linear address is remapped onto other code. */
#include "runtime.h"

const char test_name[] = "smc";

typedef u32 (*fn_t)(u64);

/* mov $imm32, %eax; ret */
static void put_mov_ret(u8 *p, u32 imm) {
    p[0] = 0xB8;
    memcpy(p + 1, &imm, 4);
    p[5] = 0xC3;
}

static u32 run(u64 va, u64 arg) { barrier(); u32 r = ((fn_t)va)(arg); barrier(); return r; }

void test_main(void) {
    const u64 W = WINDOW;
    const u64 X = W + 0x1000, A = W + 0x5000;
    u8 *page = alloc_page(), *other = alloc_page(), *next = alloc_page();
    map_page(X, (u64)page, PTE_P);                      /* execute, read-only */
    map_page(A, (u64)page, PTE_P | PTE_W | PTE_NX);     /* the writable alias */
    u8 *a = (u8 *)A;

    put_mov_ret(a, 1);
    check_eq("alias.first", run(X, 0), 1);
    put_mov_ret(a, 2);
    check_eq("alias.rewrite", run(X, 0), 2);
    put_mov_ret(page, 3);               /* through the identity mapping */
    check_eq("identity.rewrite", run(X, 0), 3);
    for (int i = 0; i < 10; i++) (void)run(X, 0);       /* warm */
    a[1] = 4;
    check_eq("alias.rewrite-imm-byte", run(X, 0), 4);

    /* The code patches an instruction ahead of itself in the same block, through the alias, then
       jumps to it:  movb $7, (%rdi); jmp 1f; 1: mov $0, %eax; ret */
    static const u8 patch_jmp[] = { 0xC6, 0x07, 0x07, 0xEB, 0x00, 0xB8, 0, 0, 0, 0, 0xC3 };
    static u64 scratch;
    memcpy(a + 0x100, patch_jmp, sizeof patch_jmp);
    check_eq("ahead.alias-jmp.unpatched", run(X + 0x100, (u64)&scratch), 0);
    check_eq("ahead.alias-jmp.patched", run(X + 0x100, A + 0x106), 7);
    /* The same through the code's own linear address (writable now), without a jump:
       movb $8, (%rdi); mov $0, %eax; ret */
    map_page(X, (u64)page, PTE_P | PTE_W);
    static const u8 patch_next[] = { 0xC6, 0x07, 0x08, 0xB8, 0, 0, 0, 0, 0xC3 };
    memcpy(a + 0x200, patch_next, sizeof patch_next);
    check_eq("ahead.same-address.unpatched", run(X + 0x200, (u64)&scratch), 0);
    check_eq("ahead.same-address.patched", run(X + 0x200, X + 0x204), 8);
    map_page(X, (u64)page, PTE_P);

    /* The same linear address remapped onto another physical page, and back. */
    put_mov_ret(other, 9);
    map_page(X, (u64)other, PTE_P);
    check_eq("remap.other-page", run(X, 0), 9);
    map_page(X, (u64)page, PTE_P);
    check_eq("remap.back", run(X, 0), 4);

    /* An instruction that crosses into the next page; its immediate is rewritten there. */
    map_page(X + 0x1000, (u64)next, PTE_P);
    map_page(A + 0x1000, (u64)next, PTE_P | PTE_W | PTE_NX);
    a[0xFFD] = 0xB8;                    /* mov $imm32, %eax: 3 bytes here, 2 on the next page */
    a[0xFFE] = 0x11;
    a[0xFFF] = 0x22;
    a[0x1000] = 0x33;
    a[0x1001] = 0x00;
    a[0x1002] = 0xC3;
    check_eq("cross-page.first", run(X + 0xFFD, 0), 0x332211);
    a[0x1000] = 0x44;
    check_eq("cross-page.second-page-rewritten", run(X + 0xFFD, 0), 0x442211);
    a[0xFFE] = 0x55;
    check_eq("cross-page.first-page-rewritten", run(X + 0xFFD, 0), 0x442255);
    /* The next page remapped under the same linear address. */
    u8 *next2 = alloc_page();
    memcpy(next2, next, 16);
    next2[0] = 0x66;
    map_page(X + 0x1000, (u64)next2, PTE_P);
    check_eq("cross-page.second-page-remapped", run(X + 0xFFD, 0), 0x662255);
}
