/* Port I/O of every size and form (imm8 and DX; byte, word, dword; INS/OUTS with REP, both
   directions; a REP INS that faults half-way) against ports whose read-back the PC defines: the
   PICs' IMRs (0x21, 0xA1), the CMOS index/data pair (0x70/0x71; a word or dword write to 0x70 is
   split into byte writes to 0x70, 0x71, ...), PCI configuration address (0xCF8, dword), the
   16550's scratch register (0x3FF). MMIO: 32-bit aligned accesses to local APIC and IOAPIC
   registers with different instructions (MOV, XCHG, OR, CMPXCHG, MOVS). RAM accessed with every
   size at every alignment across a page boundary whose two pages are not adjacent physically; reads
   of every size and alignment below the top of 4 GiB (firmware or nothing) agree with its bytes. */
#include "runtime.h"

const char test_name[] = "io";

static u8 cmos_read(u8 idx) { outb(0x70, idx); return inb(0x71); }

/* REP INSB / MOVSB into a buffer that ends in a missing page: the registers at the fault. */
static struct trap_frame pf_frame;
static int pf_record(struct trap_frame *f) {
    pf_frame = *f;
    return 0;                           /* not handled: the fault is caught as usual */
}
static void rep_insb_fault(void *p) {
    u64 dst = (u64)p, cnt = 64;
    __asm__ volatile("cld; rep insb" : "+D"(dst), "+c"(cnt) : "d"(0x71) : "memory");
}
static void rep_movsb_fault(void *p) {
    u64 dst = (u64)p, cnt = 64, src = 0x100000;
    __asm__ volatile("cld; rep movsb" : "+D"(dst), "+S"(src), "+c"(cnt) :: "memory");
}

static u64 rd(u64 va, int size) {
    switch (size) {
    case 1: return *(volatile u8 *)va;
    case 2: return *(volatile u16 *)va;
    case 4: return *(volatile u32 *)va;
    default: return *(volatile u64 *)va;
    }
}
static void wr(u64 va, int size, u64 v) {
    switch (size) {
    case 1: *(volatile u8 *)va = (u8)v; break;
    case 2: *(volatile u16 *)va = (u16)v; break;
    case 4: *(volatile u32 *)va = (u32)v; break;
    default: *(volatile u64 *)va = v; break;
    }
}

void test_main(void) {
    /* PIC IMRs: byte OUT/IN, immediate and DX forms. */
    outb(0x21, 0xA5);
    outb(0xA1, 0x5B);
    check_eq("port.byte.pic-master-imr", inb(0x21), 0xA5);
    u8 v;
    __asm__ volatile("inb $0xA1, %0" : "=a"(v));
    check_eq("port.byte.pic-slave-imr.imm8", v, 0x5B);
    outb(0x21, 0xFF);
    outb(0xA1, 0xFF);

    /* CMOS: a word OUT to 0x70 writes the index, then the data byte at 0x71. */
    outw(0x70, 0xC348);
    check_eq("port.word-out.cmos", cmos_read(0x48), 0xC3);
    outl(0x70, 0x00005A49);
    check_eq("port.dword-out.cmos", cmos_read(0x49), 0x5A);

    /* PCI configuration address: a dword register. */
    outl(0xCF8, 0x80000010);
    check_eq("port.dword.pci-config-address", inl(0xCF8), 0x80000010);
    outl(0xCF8, 0);
    check_eq("port.dword.pci-config-address.cleared", inl(0xCF8), 0);

    /* The 16550's scratch register, through DX. */
    outb(0x3FF, 0x3C);
    check_eq("port.byte.uart-scratch", inb(0x3FF), 0x3C);

    /* String I/O. */
    static u16 words[3] = { 0x114A, 0x224B, 0x334C };
    u64 src = (u64)words, cnt = 3;
    __asm__ volatile("cld; rep outsw" : "+S"(src), "+c"(cnt) : "d"(0x70) : "memory");
    check_eq("port.rep-outsw.rsi", src - (u64)words, 6);
    check_eq("port.rep-outsw.rcx", cnt, 0);
    check_eq("port.rep-outsw.cmos", cmos_read(0x4A) | cmos_read(0x4B) << 8 | (u64)cmos_read(0x4C) << 16, 0x332211);
    static u8 ibuf[8];
    outb(0x70, 0x4B);
    u64 dst = (u64)ibuf;
    cnt = 4;
    __asm__ volatile("cld; rep insb" : "+D"(dst), "+c"(cnt) : "d"(0x71) : "memory");
    check_eq("port.rep-insb.rdi", dst - (u64)ibuf, 4);
    check_eq("port.rep-insb.data", *(u64 *)ibuf, 0x22222222);
    static u32 dbuf[3];
    outl(0xCF8, 0x80000020);
    dst = (u64)&dbuf[1];
    cnt = 2;
    __asm__ volatile("std; rep insl; cld" : "+D"(dst), "+c"(cnt) : "d"(0xCF8) : "memory");
    outl(0xCF8, 0);
    check_eq("port.rep-insd-backwards.rdi", (u64)dbuf + 4 - dst, 8);
    check_eq("port.rep-insd-backwards.data", dbuf[0] == 0x80000020 && dbuf[1] == 0x80000020 && dbuf[2] == 0, 1);

    /* A REP INSB running into a missing page: #PF with RDI/RCX at the faulting element. */
    u8 *page = alloc_page();
    map_page(WINDOW + 0x1000, (u64)page, PTE_P | PTE_W);
    map_page(WINDOW + 0x2000, 0, 0);
    outb(0x70, 0x4C);
    set_handler(14, pf_record);
    int f = probe(rep_insb_fault, (void *)(WINDOW + 0x2000 - 10));
    check_fault("port.rep-insb.fault", f, 14, PF_W, WINDOW + 0x2000);
    check_eq("port.rep-insb.fault.rdi", pf_frame.rdi, WINDOW + 0x2000);
    check_eq("port.rep-insb.fault.rcx", pf_frame.rcx, 64 - 10);
    check_eq("port.rep-insb.bytes-before-fault", page[0xFF6] == 0x33 && page[0xFFF] == 0x33, 1);
    f = probe(rep_movsb_fault, (void *)(WINDOW + 0x2000 - 12));
    check_fault("rep-movsb.fault", f, 14, PF_W, WINDOW + 0x2000);
    check_eq("rep-movsb.fault.rdi", pf_frame.rdi, WINDOW + 0x2000);
    check_eq("rep-movsb.fault.rsi", pf_frame.rsi, 0x100000 + 12);
    check_eq("rep-movsb.fault.rcx", pf_frame.rcx, 64 - 12);
    check_eq("rep-movsb.bytes-before-fault", memcmp(page + 0xFF4, (void *)0x100000, 12), 0);
    set_handler(14, NULL);

    /* Local APIC registers (32-bit, aligned). */
    lapic_enable();
    lapic_write(0x80, 0xFFFFFFFF);
    check_eq("mmio.lapic.tpr.reserved-bits", lapic_read(0x80), 0xFF);
    lapic_write(0x80, 0x20);
    check_eq("mmio.lapic.tpr", lapic_read(0x80), 0x20);
    u32 old = 0x30;
    __asm__ volatile("xchgl %0, (%1)" : "+r"(old) : "r"(LAPIC + 0x80) : "memory");
    check_eq("mmio.lapic.tpr.xchg-old", old, 0x20);
    check_eq("mmio.lapic.tpr.xchg-new", lapic_read(0x80), 0x30);
    __asm__ volatile("orl $0x5, (%0)" :: "r"(LAPIC + 0x80) : "memory", "cc");
    check_eq("mmio.lapic.tpr.or", lapic_read(0x80), 0x35);
    u32 expect = 0x35, repl = 0x10;
    __asm__ volatile("lock cmpxchgl %2, (%1)" : "+a"(expect) : "r"(LAPIC + 0x80), "r"(repl) : "memory", "cc");
    check_eq("mmio.lapic.tpr.cmpxchg", lapic_read(0x80), 0x10);
    u32 tmp = 0;
    u64 s = LAPIC + 0x80, d = (u64)&tmp;
    __asm__ volatile("movsl" : "+S"(s), "+D"(d) :: "memory");
    check_eq("mmio.lapic.tpr.movs-to-ram", tmp, 0x10);
    lapic_write(0x80, 0);
    lapic_write(0x3E0, 0xFFFFFFFF);
    check_eq("mmio.lapic.divide-config", lapic_read(0x3E0), 0xB);
    lapic_write(0x3E0, 0x3);
    check_eq("mmio.lapic.divide-config.3", lapic_read(0x3E0), 0x3);
    lapic_write(0x320, 0x10040);
    lapic_write(0x380, 0x12345678);
    check_eq("mmio.lapic.timer-initial-count", lapic_read(0x380), 0x12345678);
    lapic_write(0x380, 0);
    check_eq("mmio.lapic.lvt-timer", lapic_read(0x320), 0x10040);
    check_eq("mmio.lapic.svr", lapic_read(0xF0), 0x1FF);

    /* IOAPIC: select redirection entry 0 (low word), write, read back. */
    volatile u32 *ioregsel = (volatile u32 *)0xFEC00000UL, *iowin = (volatile u32 *)0xFEC00010UL;
    *ioregsel = 0x10;
    *iowin = 0x00010033;
    check_eq("mmio.ioapic.regsel", *ioregsel & 0xFF, 0x10);
    check_eq("mmio.ioapic.redirection-0", *iowin, 0x00010033);
    *iowin = 0x00010000;

    /* RAM, every size at every alignment across a page boundary between two pages that are not
       adjacent physically. */
    u8 *lo = alloc_page(), *gap = alloc_page(), *hi = alloc_page();
    (void)gap;
    const u64 S = WINDOW + 0x10000;
    map_page(S, (u64)lo, PTE_P | PTE_W);
    map_page(S + 0x1000, (u64)hi, PTE_P | PTE_W);
    for (int size = 2; size <= 8; size *= 2) {
        int ok = 1;
        for (int off = 0x1000 - size + 1; off < 0x1000; off++) {
            for (int i = 0; i < 4096; i++) { lo[i] = (u8)(i ^ 0x5A); hi[i] = (u8)(i ^ 0xA5); }
            u64 want = 0;
            for (int i = size - 1; i >= 0; i--) {
                int o = off + i;
                want = want << 8 | (o < 0x1000 ? lo[o] : hi[o - 0x1000]);
            }
            if (rd(S + (u64)off, size) != want) ok = 0;
            u64 val = 0x0102030405060708UL * (u64)(off & 0xF);
            wr(S + (u64)off, size, val);
            for (int i = 0; i < size; i++) {
                int o = off + i;
                u8 b = o < 0x1000 ? lo[o] : hi[o - 0x1000];
                if (b != (u8)(val >> (8 * i))) ok = 0;
            }
        }
        kprintf("split.size%d.read-write: %s\n", size, ok ? "ok" : "FAIL");
        if (!ok) failures++;
    }
    /* Below 4 GiB's top: firmware ROM, MMIO or nothing, depending on the machine (the contents are
       not reported). Whatever answers, reads of every size and alignment must agree with its
       bytes, also across the page boundary at 0xFFFFF000. */
    {
        static u8 bytes[64];
        const u64 TOP = 0xFFFFEFE0UL;
        for (int i = 0; i < 64; i++) bytes[i] = *(volatile u8 *)(TOP + (u64)i);
        int ok = 1;
        for (int size = 2; size <= 8; size *= 2)
            for (int off = 0; off + size <= 64; off++) {
                u64 want = 0;
                for (int i = size - 1; i >= 0; i--) want = want << 8 | bytes[off + i];
                if (rd(TOP + (u64)off, size) != want) ok = 0;
            }
        check("top-of-4g.reads-agree-with-bytes", ok);
    }

    /* A locked read-modify-write across the boundary. */
    *(volatile u64 *)(S + 0xFFC) = 0x1111111122222222UL;
    u64 add = 0x0000000100000001UL;
    __asm__ volatile("lock xaddq %0, (%1)" : "+r"(add) : "r"(S + 0xFFC) : "memory", "cc");
    check_eq("split.lock-xadd.old", add, 0x1111111122222222UL);
    check_eq("split.lock-xadd.new", *(volatile u64 *)(S + 0xFFC), 0x1111111222222223UL);
    check_eq("split.lock-xadd.high-page", *(volatile u32 *)hi, 0x11111112);
}
