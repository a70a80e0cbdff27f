/* Segment loads in 64-bit mode and their faults: DS with null, valid, beyond-limit, not-present,
   system, execute-only and privilege-violating selectors (#GP(sel), #NP(sel)); SS with null at
   CPL 0, RPL/DPL mismatches, read-only and code segments (#GP(sel)), not present (#SS(sel)); an
   LDT selector with a null LDTR and with an LDT; FS/GS bases through the MSRs and a selector load; SWAPGS;
   LSL/LAR/VERR/VERW; MOV to CS (#UD). */
#include "runtime.h"

const char test_name[] = "segments";

#define SPARE(i) (SEL_SPARE + 8 * (i))

static u16 load_sel;
static void load_ds(void *p) { (void)p; __asm__ volatile("mov %0, %%ds" :: "r"(load_sel)); }
static void load_ss(void *p) {
    (void)p;
    __asm__ volatile("mov %0, %%ss; mov %1, %%ss" :: "r"(load_sel), "r"((u16)SEL_KDATA));
}
static void mov_cs(void *p) { (void)p; __asm__ volatile(".byte 0x8e, 0xc8"); }   /* mov %eax, %cs */

static void restore_ds(void) { __asm__ volatile("mov %0, %%ds; mov %0, %%es" :: "r"((u16)SEL_KDATA)); }

static void ds_case(const char *name, u16 sel, int want_vec, u64 want_ec) {
    load_sel = sel;
    check_fault(name, probe(load_ds, NULL), want_vec, want_ec, 0);
    restore_ds();
}
static void ss_case(const char *name, u16 sel, int want_vec, u64 want_ec) {
    load_sel = sel;
    check_fault(name, probe(load_ss, NULL), want_vec, want_ec, 0);
}

static u64 lsl(u16 sel, int *zf) {
    u64 v = 0;
    u8 z;
    __asm__ volatile("lsl %2, %0; setz %1" : "+r"(v), "=q"(z) : "r"((u64)sel) : "cc");
    *zf = z;
    return v;
}

void test_main(void) {
    gdt[SPARE(0) / 8] = 0x00CF12000000FFFFUL;   /* data, writable, not present */
    gdt[SPARE(1) / 8] = 0x00CF98000000FFFFUL;   /* code, execute-only */
    gdt[SPARE(2) / 8] = 0x00CF9A000000FFFFUL;   /* code, readable */
    gdt[SPARE(3) / 8] = 0x00CF90000000FFFFUL;   /* data, read-only */
    gdt[SPARE(4) / 8] = 0x0040F20000000FFFUL;   /* data, DPL 3, limit 0xFFF bytes */

    ds_case("ds.null", 0, -1, 0);
    ds_case("ds.kernel-data", SEL_KDATA, -1, 0);
    ds_case("ds.user-data-rpl3", SEL_UDATA, -1, 0);
    ds_case("ds.beyond-gdt-limit", 0x2003, 13, 0x2000);
    ds_case("ds.not-present", SPARE(0), 11, SPARE(0));
    ds_case("ds.tss", SEL_TSS, 13, SEL_TSS);
    ds_case("ds.execute-only-code", SPARE(1), 13, SPARE(1));
    ds_case("ds.readable-code", SPARE(2), -1, 0);
    ds_case("ds.dpl0-with-rpl3", SEL_KDATA | 3, 13, SEL_KDATA);
    __asm__ volatile("lldt %w0" :: "r"((u16)0));
    ds_case("ds.ldt-null", 0x0C, 13, 0x0C);

    ss_case("ss.null-at-cpl0", 0, -1, 0);
    ss_case("ss.kernel-data", SEL_KDATA, -1, 0);
    ss_case("ss.rpl-not-cpl", SEL_KDATA | 3, 13, SEL_KDATA);
    ss_case("ss.dpl-not-cpl", SEL_UDATA & ~3, 13, SEL_UDATA & ~3);
    ss_case("ss.read-only", SPARE(3), 13, SPARE(3));
    ss_case("ss.code", SPARE(2), 13, SPARE(2));
    ss_case("ss.not-present", SPARE(0), 12, SPARE(0));

    /* An LDT with one data segment: a TI = 1 selector loads from it. */
    static u64 ldt[2] __attribute__((aligned(16)));
    ldt[1] = 0x00CF92000000FFFFUL;
    u64 base = (u64)ldt, limit = sizeof ldt - 1;
    gdt[SPARE(6) / 8] = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (0x82UL << 40) | (((base >> 24) & 0xFF) << 56);
    gdt[SPARE(6) / 8 + 1] = base >> 32;
    __asm__ volatile("lldt %w0" :: "r"((u16)SPARE(6)));
    ds_case("ds.ldt-entry", 0x0C, -1, 0);
    ds_case("ds.beyond-ldt-limit", 0x14, 13, 0x14);
    u16 ldtr;
    __asm__ volatile("sldt %0" : "=r"(ldtr));
    check_eq("sldt", ldtr, SPARE(6));
    __asm__ volatile("lldt %w0" :: "r"((u16)0));

    /* FS and GS bases. */
    static u64 fs_data[2] = { 0x1111, 0x2222 };
    wrmsr(0xC0000100, (u64)fs_data);
    u64 v;
    __asm__ volatile("mov %%fs:8, %0" : "=r"(v));
    check_eq("fs-base.msr.access", v, 0x2222);
    __asm__ volatile("mov %0, %%fs" :: "r"((u16)SEL_KDATA));
    check_eq("fs-base.after-selector-load", rdmsr(0xC0000100), 0);
    wrmsr(0xC0000101, 0x1000);
    wrmsr(0xC0000102, 0x2000);
    __asm__ volatile("swapgs");
    check_eq("swapgs.gs-base", rdmsr(0xC0000101), 0x2000);
    check_eq("swapgs.kernel-gs-base", rdmsr(0xC0000102), 0x1000);
    __asm__ volatile("swapgs");
    check_eq("swapgs.twice", rdmsr(0xC0000101), 0x1000);
    wrmsr(0xC0000101, 0);
    wrmsr(0xC0000102, 0);

    /* LSL, LAR, VERR, VERW. */
    int zf;
    check_eq("lsl.kernel-data", lsl(SEL_KDATA, &zf), 0xFFFFFFFF);
    check_eq("lsl.kernel-data.zf", zf, 1);
    check_eq("lsl.small-limit", lsl(SPARE(4), &zf), 0xFFF);
    lsl(0x2000, &zf);
    check_eq("lsl.beyond-limit.zf", zf, 0);
    u64 ar = 0;
    __asm__ volatile("lar %1, %0" : "+r"(ar) : "r"((u64)SEL_KCODE) : "cc");
    check_eq("lar.kernel-code", ar & 0xF0FF00, 0xA09B00);     /* bits 19:16 are undefined */
    u8 r, w;
    __asm__ volatile("verr %w2; setz %0; verw %w2; setz %1" : "=q"(r), "=q"(w) : "r"((u16)SEL_KCODE) : "cc");
    check_eq("verr-verw.kernel-code", (u64)r << 4 | w, 0x10);
    __asm__ volatile("verr %w2; setz %0; verw %w2; setz %1" : "=q"(r), "=q"(w) : "r"((u16)SEL_KDATA) : "cc");
    check_eq("verr-verw.kernel-data", (u64)r << 4 | w, 0x11);

    check_fault("mov-to-cs", probe(mov_cs, NULL), 6, 0, 0);
}
