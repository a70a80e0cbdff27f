/* Modes: the round trip through compatibility mode and 32-bit protected mode with paging off that
   Linux's decompressor makes (EFER.LMA at each step, 32-bit decoding and stack width, 32-bit
   address wrap-around, physical addressing with paging off, the new CR3 in use afterwards); far
   calls, jumps and returns between 64-bit and compatibility mode; far transfers that fault; LRETQ
   to CPL 3. */
#include "runtime.h"

const char test_name[] = "modes";

extern u32 rt_efer_compat, rt_efer_nopaging, rt_efer_back, rt_dec, rt_push, rt_wrap, c32_push;
extern u64 rt_new_cr3;
void roundtrip(void);
u64 far_call32(void);
u64 far_call64(void);
u64 far_jump64(void);
void far_jump_sel(u16 sel);
void jmp_far_direct(void);
void lret_to_user(u64 rip, u64 rsp);

static u16 jump_sel;
static void do_far_jump(void *p) { (void)p; far_jump_sel(jump_sel); }
static void do_jmp_far_direct(void *p) { (void)p; jmp_far_direct(); }

__asm__(".section .user.text, \"ax\"\nu_exit7: mov $7, %edi\n xor %eax, %eax\n syscall\n.text\n");
extern u8 u_exit7[];

void test_main(void) {
    /* A second PML4: the same identity map, and slot 1 maps WINDOW onto a marked page. */
    u64 *pml4 = alloc_page();
    memcpy(pml4, (void *)(read_cr3() & PTE_ADDR), 4096);
    u8 *marked = alloc_page();
    marked[0] = 0x77;
    u64 old_cr3 = read_cr3();
    write_cr3((u64)pml4);
    map_page(WINDOW, (u64)marked, PTE_P | PTE_W);
    write_cr3(old_cr3);
    rt_new_cr3 = (u64)pml4;

    roundtrip();
    u64 cr3_after = read_cr3();
    write_cr3(old_cr3);
    check_eq("roundtrip.compat.efer-lme-lma", rt_efer_compat & (EFER_LME | EFER_LMA), EFER_LME | EFER_LMA);
    check_eq("roundtrip.paging-off.efer-lme-lma", rt_efer_nopaging & (EFER_LME | EFER_LMA), EFER_LME);
    check_eq("roundtrip.back.efer-lme-lma", rt_efer_back & (EFER_LME | EFER_LMA), EFER_LME | EFER_LMA);
    check_eq("roundtrip.compat.0x48-is-dec", rt_dec, 4);
    check_eq("roundtrip.compat.push-width", rt_push, 4);
    check_eq("roundtrip.paging-off.address-wrap", rt_wrap, 0xC0DE);
    check_eq("roundtrip.new-cr3", cr3_after, (u64)pml4);
    /* Physical 8 was written with paging off: see it through a mapping of page 0. */
    map_page(WINDOW + 0x1000, 0, PTE_P);
    check_eq("roundtrip.paging-off.physical-write", *(volatile u32 *)(WINDOW + 0x1008), 0xC0DE);
    u16 cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    check_eq("roundtrip.back.cs", cs, SEL_KCODE);

    /* Far calls. */
    check_eq("far-call.m16:32-to-compat.eax", far_call32() & 0xFFFFFFFF, 0x12345677);
    check_eq("far-call.m16:32.pushed-bytes", c32_push, 8);
    check_eq("far-call.m16:64-to-64.pushed-bytes", far_call64(), 16);
    check_eq("far-jump.m16:64", far_jump64(), 1);

    /* Far jumps that fault. */
    jump_sel = 0;
    check_fault("far-jump.null-selector", probe(do_far_jump, NULL), 13, 0, 0);
    jump_sel = SEL_KDATA;
    check_fault("far-jump.data-segment", probe(do_far_jump, NULL), 13, SEL_KDATA, 0);
    jump_sel = 0x1000;
    check_fault("far-jump.beyond-gdt-limit", probe(do_far_jump, NULL), 13, 0x1000, 0);
    gdt[SEL_SPARE / 8] = 0x00AF1A000000FFFFUL;   /* 64-bit code, DPL 0, not present */
    jump_sel = SEL_SPARE;
    check_fault("far-jump.not-present", probe(do_far_jump, NULL), 11, SEL_SPARE, 0);
    gdt[SEL_SPARE / 8] = 0;
    jump_sel = SEL_UCODE;
    check_fault("far-jump.to-cpl3-code", probe(do_far_jump, NULL), 13, SEL_UCODE & ~3, 0);
    check_fault("jmp-far-direct.in-64-bit-mode", probe(do_jmp_far_direct, NULL), 6, 0, 0);

    /* LRETQ to CPL 3. */
    int r = catch_arm(&rt_catch);
    if (r == 0) lret_to_user((u64)u_exit7, USER_STACK_TOP);
    check_eq("lretq-to-cpl3.exit", r, 2);
}
