/* CPU facts a kernel relies on: the CPUID bits the pinned CPU model defines and Linux reads (present
   and absent ones), RDTSC monotonic, RDTSCP with TSC_AUX, RDMSR/WRMSR of MSRs that exist and of one
   that does not (#GP(0), architecture-only), CR8 as the APIC's TPR, CR0.TS (#NM on x87, MMX and
   SSE; CLTS), CR0.EM (#NM on x87, #UD on SSE), an unmasked SSE exception (#XM, architecture-only). */
#include "runtime.h"

const char test_name[] = "cpu";

struct bit { const char *name; u32 leaf, sub; int reg; int bit; int want; };
enum { EAX, EBX, ECX, EDX };

static const struct bit bits[] = {
    { "1.edx.fpu", 1, 0, EDX, 0, 1 },        { "1.edx.pse", 1, 0, EDX, 3, 1 },
    { "1.edx.tsc", 1, 0, EDX, 4, 1 },        { "1.edx.msr", 1, 0, EDX, 5, 1 },
    { "1.edx.pae", 1, 0, EDX, 6, 1 },        { "1.edx.cx8", 1, 0, EDX, 8, 1 },
    { "1.edx.apic", 1, 0, EDX, 9, 1 },       { "1.edx.sep", 1, 0, EDX, 11, 1 },
    { "1.edx.pge", 1, 0, EDX, 13, 1 },       { "1.edx.cmov", 1, 0, EDX, 15, 1 },
    { "1.edx.pat", 1, 0, EDX, 16, 1 },       { "1.edx.clflush", 1, 0, EDX, 19, 1 },
    { "1.edx.mmx", 1, 0, EDX, 23, 1 },       { "1.edx.fxsr", 1, 0, EDX, 24, 1 },
    { "1.edx.sse", 1, 0, EDX, 25, 1 },       { "1.edx.sse2", 1, 0, EDX, 26, 1 },
    { "1.ecx.sse3", 1, 0, ECX, 0, 1 },       { "1.ecx.ssse3", 1, 0, ECX, 9, 1 },
    { "1.ecx.cx16", 1, 0, ECX, 13, 1 },      { "1.ecx.sse4.1", 1, 0, ECX, 19, 1 },
    { "1.ecx.sse4.2", 1, 0, ECX, 20, 1 },    { "1.ecx.x2apic", 1, 0, ECX, 21, 0 },
    { "1.ecx.popcnt", 1, 0, ECX, 23, 1 },    { "1.ecx.xsave", 1, 0, ECX, 26, 0 },
    { "1.ecx.osxsave", 1, 0, ECX, 27, 0 },   { "1.ecx.avx", 1, 0, ECX, 28, 0 },
    { "1.ecx.pcid", 1, 0, ECX, 17, 0 },      { "1.ecx.hypervisor", 1, 0, ECX, 31, 1 },
    { "6.eax.arat", 6, 0, EAX, 2, 1 },
    { "7.ebx.smep", 7, 0, EBX, 7, 0 },       { "7.ebx.smap", 7, 0, EBX, 20, 0 },
    { "7.ebx.avx2", 7, 0, EBX, 5, 0 },       { "7.ecx.la57", 7, 0, ECX, 16, 0 },
    { "80000001.edx.syscall", 0x80000001, 0, EDX, 11, 1 },
    { "80000001.edx.nx", 0x80000001, 0, EDX, 20, 1 },
    { "80000001.edx.pdpe1gb", 0x80000001, 0, EDX, 26, 1 },
    { "80000001.edx.rdtscp", 0x80000001, 0, EDX, 27, 1 },
    { "80000001.edx.lm", 0x80000001, 0, EDX, 29, 1 },
    { "80000001.ecx.lahf-lm", 0x80000001, 0, ECX, 0, 1 },
};

static u32 msr_index;
static u64 msr_value;
static void do_rdmsr(void *p) { (void)p; msr_value = rdmsr(msr_index); }
static void do_wrmsr(void *p) { (void)p; wrmsr(msr_index, msr_value); }

static void x87_op(void *p) { (void)p; __asm__ volatile("fninit; fld1; fstp %%st(0)" ::: "memory"); }
static void fwait_op(void *p) { (void)p; __asm__ volatile("fwait"); }
static void mmx_op(void *p) { (void)p; __asm__ volatile("pxor %%mm0, %%mm0; emms" ::: "memory"); }
static void sse_op(void *p) { (void)p; __asm__ volatile("xorps %%xmm0, %%xmm0" ::: "memory"); }
static void sse_div0(void *p) {
    (void)p;
    static const float one[4] = { 1, 1, 1, 1 };
    static const float zero[4] = { 0, 0, 0, 0 };
    __asm__ volatile("movups %0, %%xmm0; movups %1, %%xmm1; divps %%xmm1, %%xmm0" :: "m"(one), "m"(zero) : "memory");
}

void test_main(void) {
    u32 r[4], maxleaf, maxext;
    cpuid(0, 0, &r[0], &r[1], &r[2], &r[3]);
    maxleaf = r[0];
    char vendor[13];
    memcpy(vendor, &r[1], 4);
    memcpy(vendor + 4, &r[3], 4);
    memcpy(vendor + 8, &r[2], 4);
    vendor[12] = 0;
    kprintf("cpuid.vendor = %s\n", vendor);
    check("cpuid.0.max-leaf-covers-0x16", maxleaf >= 0x16);
    cpuid(0x80000000, 0, &r[0], &r[1], &r[2], &r[3]);
    maxext = r[0];
    check("cpuid.80000000.max-covers-80000008", maxext >= 0x80000008);
    for (unsigned i = 0; i < sizeof bits / sizeof bits[0]; i++) {
        cpuid(bits[i].leaf, bits[i].sub, &r[0], &r[1], &r[2], &r[3]);
        int got = (r[bits[i].reg] >> bits[i].bit) & 1;
        char name[64];
        const char *pre = "cpuid.";
        int n = 0;
        while (pre[n]) { name[n] = pre[n]; n++; }
        for (int j = 0; bits[i].name[j] && n < 63; j++) name[n++] = bits[i].name[j];
        name[n] = 0;
        check_eq(name, (u64)got, (u64)bits[i].want);
    }
    cpuid(0x80000008, 0, &r[0], &r[1], &r[2], &r[3]);
    check_eq("cpuid.80000008.linear-bits", (r[0] >> 8) & 0xFF, 48);

    /* TSC. */
    u64 prev = rdtsc();
    int mono = 1;
    for (int i = 0; i < 10000; i++) {
        u64 t = rdtsc();
        if (t < prev) mono = 0;
        prev = t;
    }
    check("rdtsc.monotonic", mono);
    wrmsr(0xC0000103, 0x1234);
    u32 lo, hi, aux;
    __asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
    check_eq("rdtscp.tsc-aux", aux, 0x1234);
    check("rdtscp.not-before-rdtsc", (((u64)hi << 32) | lo) >= prev);

    /* MSRs. */
    msr_index = 0x277;                  /* PAT: the power-on value */
    check_fault("rdmsr.pat", probe(do_rdmsr, NULL), -1, 0, 0);
    check_eq("rdmsr.pat.value", msr_value, 0x0007040600070406UL);
    msr_index = 0x1B;
    check_fault("rdmsr.apic-base", probe(do_rdmsr, NULL), -1, 0, 0);
    check_eq("rdmsr.apic-base.address-and-enable", msr_value & 0xFFFFFF800UL, 0xFEE00800UL);
    /* Faulting WRMSRs: QEMU 7.2's TCG accepts both. */
    if (arch_only("wrmsr.efer.reserved-bit")) {
        msr_index = 0xC0000080;
        msr_value = rdmsr(MSR_EFER) | (1UL << 20);
        check_fault("arch-only wrmsr.efer.reserved-bit", probe(do_wrmsr, NULL), 13, 0, 0);
    }
    if (arch_only("wrmsr.fs-base.noncanonical")) {
        msr_index = 0xC0000100;
        msr_value = 0x0000800000000000UL;
        check_fault("arch-only wrmsr.fs-base.noncanonical", probe(do_wrmsr, NULL), 13, 0, 0);
        wrmsr(0xC0000100, 0);
    }

    /* CR8 is TPR[7:4]. */
    lapic_enable();
    __asm__ volatile("mov %0, %%cr8" :: "r"(5UL));
    check_eq("cr8.to-tpr", lapic_read(0x80), 0x50);
    lapic_write(0x80, 0x30);
    u64 cr8;
    __asm__ volatile("mov %%cr8, %0" : "=r"(cr8));
    check_eq("cr8.from-tpr", cr8, 3);
    lapic_write(0x80, 0);

    /* CR0.TS and CR0.EM. */
    u64 cr0 = read_cr0();
    check_fault("ts0.x87", probe(x87_op, NULL), -1, 0, 0);
    check_fault("ts0.sse", probe(sse_op, NULL), -1, 0, 0);
    write_cr0(cr0 | CR0_TS);
    check_fault("ts1.x87", probe(x87_op, NULL), 7, 0, 0);
    check_fault("ts1.fwait-with-mp", probe(fwait_op, NULL), 7, 0, 0);
    check_fault("ts1.mmx", probe(mmx_op, NULL), 7, 0, 0);
    check_fault("ts1.sse", probe(sse_op, NULL), 7, 0, 0);
    __asm__ volatile("clts");
    check_eq("clts.clears-ts", read_cr0() & CR0_TS, 0);
    check_fault("clts.sse", probe(sse_op, NULL), -1, 0, 0);
    write_cr0(cr0 | CR0_EM);
    check_fault("em1.x87", probe(x87_op, NULL), 7, 0, 0);
    check_fault("em1.sse", probe(sse_op, NULL), 6, 0, 0);
    write_cr0(cr0);

    /* An unmasked SSE exception with CR4.OSXMMEXCPT = 1: #XM (QEMU 7.2's TCG raises none). */
    if (arch_only("sse.div0-unmasked")) {
        u32 mxcsr = 0x1F80 & ~(1u << 9);    /* divide-by-zero unmasked */
        __asm__ volatile("ldmxcsr %0" :: "m"(mxcsr));
        check_fault("arch-only sse.div0-unmasked", probe(sse_div0, NULL), 19, 0, 0);
        mxcsr = 0x1F80;
        __asm__ volatile("ldmxcsr %0" :: "m"(mxcsr));
    }

    /* An MSR that does not exist: #GP(0) (QEMU 7.2's TCG reads 0 and ignores the write). */
    if (arch_only("msr.unimplemented")) {
        msr_index = 0x12345678;
        msr_value = 0;
        check_fault("arch-only rdmsr.unimplemented", probe(do_rdmsr, NULL), 13, 0, 0);
        check_fault("arch-only wrmsr.unimplemented", probe(do_wrmsr, NULL), 13, 0, 0);
    }
}
