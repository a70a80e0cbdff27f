/* The C half of the runtime: see runtime.h for what each part guarantees. */
#include "runtime.h"

extern const char test_name[];
extern u8 __user_start[], __user_end[];
extern void *isr_table[256];
extern u32 boot_magic, boot_info;

int failures;

/* ------------------------------------------------------------ reporting */
#define DEBUGCON 0xE9
#define DEBUG_EXIT 0xF4

void putc_dbg(char c) { outb(DEBUGCON, (u8)c); }

void puts_dbg(const char *s) {
    while (*s) putc_dbg(*s++);
}

static void put_num(u64 v, unsigned base, int neg, int width, char pad, int alt) {
    char buf[32];
    int n = 0;
    do {
        unsigned d = (unsigned)(v % base);
        buf[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v);
    int len = n + neg + (alt ? 2 : 0);
    if (pad == ' ')
        for (; len < width; len++) putc_dbg(' ');
    if (neg) putc_dbg('-');
    if (alt) { putc_dbg('0'); putc_dbg('x'); }
    if (pad == '0')
        for (; len < width; len++) putc_dbg('0');
    while (n) putc_dbg(buf[--n]);
}

void kprintf(const char *fmt, ...) {
    __builtin_va_list ap;
    __builtin_va_start(ap, fmt);
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') { putc_dbg(*p); continue; }
        p++;
        int alt = 0, width = 0, lng = 0;
        char pad = ' ';
        if (*p == '#') { alt = 1; p++; }
        if (*p == '0') { pad = '0'; p++; }
        while (*p >= '0' && *p <= '9') width = width * 10 + (*p++ - '0');
        while (*p == 'l') { lng = 1; p++; }
        switch (*p) {
        case 'd': {
            i64 v = lng ? __builtin_va_arg(ap, i64) : __builtin_va_arg(ap, int);
            put_num(v < 0 ? (u64)-v : (u64)v, 10, v < 0, width, pad, 0);
            break;
        }
        case 'u': put_num(lng ? __builtin_va_arg(ap, u64) : __builtin_va_arg(ap, unsigned), 10, 0, width, pad, 0); break;
        case 'x': put_num(lng ? __builtin_va_arg(ap, u64) : __builtin_va_arg(ap, unsigned), 16, 0, width, pad, alt); break;
        case 'p': put_num((u64)__builtin_va_arg(ap, void *), 16, 0, width, pad, 1); break;
        case 's': { const char *s = __builtin_va_arg(ap, const char *); puts_dbg(s ? s : "(null)"); break; }
        case 'c': putc_dbg((char)__builtin_va_arg(ap, int)); break;
        case '%': putc_dbg('%'); break;
        default: putc_dbg('%'); putc_dbg(*p); break;
        }
    }
    __builtin_va_end(ap);
}

void check_eq(const char *name, u64 got, u64 want) {
    kprintf("%s = %#lx", name, got);
    if (got != want) { kprintf(" FAIL (want %#lx)", want); failures++; }
    putc_dbg('\n');
}

void check(const char *name, int ok) {
    kprintf("%s: %s\n", name, ok ? "ok" : "FAIL");
    if (!ok) failures++;
}

NORETURN void finish(void) {
    if (failures) kprintf("FAIL %d\n", failures);
    else puts_dbg("PASS\n");
    outl(DEBUG_EXIT, failures ? 0x11 : 0x10);
    for (;;) __asm__ volatile("cli; hlt");
}

void expect_reset(void) { puts_dbg("EXPECT END reset\n"); }

static int arch_only_checked = 1;

int arch_only(const char *name) {
    if (!arch_only_checked) kprintf("arch-only %s: not checked on this runner\n", name);
    return arch_only_checked;
}

/* Reads the Multiboot command line (flags bit 2) for "arch-only=skip". */
static void parse_cmdline(u32 info) {
    if (!info || !(*(volatile u32 *)(u64)info & 4)) return;
    const char *c = (const char *)(u64) * (volatile u32 *)(u64)(info + 16);
    const char *key = "arch-only=skip";
    for (; c && *c; c++) {
        int i = 0;
        while (key[i] && c[i] == key[i]) i++;
        if (!key[i]) { arch_only_checked = 0; return; }
    }
}

/* ------------------------------------------------------------ tiny libc */
void *memset(void *d, int c, size_t n) {
    u8 *p = d;
    while (n--) *p++ = (u8)c;
    return d;
}
void *memcpy(void *d, const void *s, size_t n) {
    u8 *p = d;
    const u8 *q = s;
    while (n--) *p++ = *q++;
    return d;
}
int memcmp(const void *a, const void *b, size_t n) {
    const u8 *p = a, *q = b;
    for (; n; n--, p++, q++)
        if (*p != *q) return *p < *q ? -1 : 1;
    return 0;
}

/* ------------------------------------------------------------ IDT, TSS, traps */
u64 idt[512] __attribute__((aligned(16)));
struct tss_block tss_block __attribute__((aligned(16)));
u8 ist_stacks[7][4096] __attribute__((aligned(4096)));
static u8 rsp0_stack[8192] __attribute__((aligned(16)));
static trap_handler handlers[256];
struct fault last_fault;
struct catch_buf rt_catch;

void *isr_stub(int vec) { return isr_table[vec & 255]; }

void set_gate(int vec, void *target, int type, int dpl, int ist, int present) {
    u64 t = (u64)target;
    idt[2 * vec] = (t & 0xFFFF) | ((u64)SEL_KCODE << 16) | ((u64)(ist & 7) << 32) |
                   ((u64)(type & 0xF) << 40) | ((u64)(dpl & 3) << 45) | ((u64)(present ? 1 : 0) << 47) |
                   (((t >> 16) & 0xFFFF) << 48);
    idt[2 * vec + 1] = t >> 32;
}

void load_idt(u64 base, u16 limit) {
    struct { u16 limit; u64 base; } __attribute__((packed)) r = { limit, base };
    __asm__ volatile("lidt %0" :: "m"(r));
}

void set_handler(int vec, trap_handler h) { handlers[vec & 255] = h; }

static const char *const vec_names[32] = {
    "DE", "DB", "NMI", "BP", "OF", "BR", "UD", "NM", "DF", "09", "TS", "NP", "SS", "GP", "PF", "15",
    "MF", "AC", "MC", "XM", "VE", "CP", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31",
};

static int has_error_code(u64 vec) {
    return vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21 || vec == 29 || vec == 30;
}

void trap(struct trap_frame *f) {
    if (handlers[f->vec] && handlers[f->vec](f)) return;
    if (rt_catch.armed) {
        last_fault = (struct fault){ f->vec, f->ec, f->vec == 14 ? read_cr2() : 0, f->rip, f->cs,
                                     f->rflags, f->rsp, f->ss, (u64)&f->rip };
        rt_catch.armed = 0;
        f->rbx = rt_catch.rbx;
        f->rbp = rt_catch.rbp;
        f->r12 = rt_catch.r12;
        f->r13 = rt_catch.r13;
        f->r14 = rt_catch.r14;
        f->r15 = rt_catch.r15;
        f->rsp = rt_catch.rsp;
        f->rip = rt_catch.rip;
        f->rflags = rt_catch.rflags;
        f->cs = SEL_KCODE;
        f->ss = SEL_KDATA;
        f->rax = 1;
        return;
    }
    kprintf("UNEXPECTED #%s (vector %lu) ec=%#lx rip=%#lx cs=%#lx rsp=%#lx cr2=%#lx\n",
            f->vec < 32 ? vec_names[f->vec] : "INT", f->vec, f->ec, f->rip, f->cs, f->rsp, read_cr2());
    failures++;
    finish();
}

int probe(void (*fn)(void *), void *arg) {
    if (catch_arm(&rt_catch)) return (int)last_fault.vec;
    fn(arg);
    rt_catch.armed = 0;
    return -1;
}

struct access { u64 va, val; int size; };

static void do_read(void *p) {
    struct access *a = p;
    switch (a->size) {
    case 1: a->val = *(volatile u8 *)a->va; break;
    case 2: a->val = *(volatile u16 *)a->va; break;
    case 4: a->val = *(volatile u32 *)a->va; break;
    default: a->val = *(volatile u64 *)a->va; break;
    }
}
static void do_write(void *p) {
    struct access *a = p;
    switch (a->size) {
    case 1: *(volatile u8 *)a->va = (u8)a->val; break;
    case 2: *(volatile u16 *)a->va = (u16)a->val; break;
    case 4: *(volatile u32 *)a->va = (u32)a->val; break;
    default: *(volatile u64 *)a->va = a->val; break;
    }
}
static void do_exec(void *p) { ((void (*)(void))((struct access *)p)->va)(); }

int try_read(u64 va, int size, u64 *out) {
    struct access a = { va, 0, size };
    int v = probe(do_read, &a);
    if (out) *out = a.val;
    return v;
}
int try_write(u64 va, int size, u64 val) {
    struct access a = { va, val, size };
    return probe(do_write, &a);
}
int try_exec(u64 va) {
    struct access a = { va, 0, 0 };
    return probe(do_exec, &a);
}

u64 fault_ec_mask = ~0UL;

static void print_fault(int vec, const struct fault *f) {
    if (vec < 0) { puts_dbg("no fault"); return; }
    if (vec < 32) kprintf("#%s", vec_names[vec]);
    else kprintf("vector %#x", vec);
    if (has_error_code((u64)vec)) kprintf(" ec=%#lx", f->ec & fault_ec_mask);
    if (vec == 14) kprintf(" cr2=%#lx", f->cr2);
}

void check_fault(const char *name, int vec, int want_vec, u64 want_ec, u64 want_cr2) {
    check_fault_of(name, vec, &last_fault, want_vec, want_ec, want_cr2);
}

void check_fault_of(const char *name, int vec, const struct fault *f, int want_vec, u64 want_ec, u64 want_cr2) {
    want_ec &= fault_ec_mask;
    kprintf("%s: ", name);
    print_fault(vec, f);
    int ok = vec == want_vec;
    if (ok && vec >= 0 && has_error_code((u64)vec)) ok = (f->ec & fault_ec_mask) == want_ec;
    if (ok && vec == 14) ok = f->cr2 == want_cr2;
    if (!ok) {
        puts_dbg(" FAIL (want ");
        if (want_vec < 0) puts_dbg("no fault");
        else {
            if (want_vec < 32) kprintf("#%s", vec_names[want_vec]);
            else kprintf("vector %#x", want_vec);
            if (has_error_code((u64)want_vec)) kprintf(" ec=%#lx", want_ec);
            if (want_vec == 14) kprintf(" cr2=%#lx", want_cr2);
        }
        putc_dbg(')');
        failures++;
    }
    putc_dbg('\n');
}

/* ------------------------------------------------------------ paging */
#define POOL_PAGES 96
static u8 pool[POOL_PAGES][4096] __attribute__((aligned(4096)));
static int pool_used;

void *alloc_page(void) {
    if (pool_used >= POOL_PAGES) {
        puts_dbg("runtime: page pool exhausted\n");
        failures++;
        finish();
    }
    void *p = pool[pool_used++];
    memset(p, 0, 4096);
    return p;
}

void invlpg(u64 va) { __asm__ volatile("invlpg (%0)" :: "r"(va) : "memory"); }

u64 *walk_entry(u64 va, int level) {
    u64 *table = (u64 *)(read_cr3() & PTE_ADDR);
    for (int l = 4; l > level; l--) {
        u64 *e = &table[(va >> (12 + 9 * (l - 1))) & 511];
        if (!(*e & PTE_P)) *e = (u64)alloc_page() | PTE_P | PTE_W | PTE_U;
        else if (*e & PTE_PS) return NULL;
        table = (u64 *)(*e & PTE_ADDR);
    }
    return &table[(va >> (12 + 9 * (level - 1))) & 511];
}

void map_page(u64 va, u64 pa, u64 flags) {
    u64 *e = walk_entry(va, 1);
    if (!e) {
        puts_dbg("runtime: map_page under a large page\n");
        failures++;
        finish();
    }
    *e = (pa & PTE_ADDR) | flags;
    invlpg(va);
}

/* ------------------------------------------------------------ CPL 3 */
u8 user_stack[8192] USER_DATA __attribute__((aligned(16)));
static u64 user_exit_value;

USER_TEXT void user_read8(u64 va) { user_syscall(SYS_EXIT, *(volatile u8 *)va); }
USER_TEXT void user_write8(u64 va) { *(volatile u8 *)va = 0x5A; user_syscall(SYS_EXIT, 0); }
USER_TEXT void user_exec(u64 va) { ((void (*)(void))va)(); user_syscall(SYS_EXIT, 0); }

struct syscall_frame { u64 rax, rdi, rsi, rdx, r10, r8, r9, rcx, r11, rsp; };

u64 syscall_dispatch(struct syscall_frame *s) {
    switch (s->rax) {
    case SYS_EXIT:
        user_exit_value = s->rdi;
        catch_jump(&rt_catch, 2);
    case SYS_ECHO:
        return s->rdi + 1;
    case SYS_FRAME:
        return s->rcx;
    case SYS_KFLAGS:
        return read_flags();
    case SYS_KSEGS: {
        u16 cs, ss;
        __asm__ volatile("mov %%cs, %0; mov %%ss, %1" : "=r"(cs), "=r"(ss));
        return cs | (u64)ss << 16;
    }
    default:
        return (u64)-1;
    }
}

i64 run_user(void (*fn)(u64), u64 arg) {
    int r = catch_arm(&rt_catch);
    if (r == 0) enter_user((u64)fn, USER_STACK_TOP, arg);
    if (r == 2) return (i64)user_exit_value;
    return -1 - (i64)last_fault.vec;
}

/* ------------------------------------------------------------ local APIC */
void lapic_enable(void) {
    wrmsr(0x1B, (rdmsr(0x1B) & ~0xFFFUL) | (1 << 11) | (rdmsr(0x1B) & 0x100));
    lapic_write(0xF0, 0x1FF);           /* software enable, spurious vector 0xFF */
    lapic_write(0x320, 0x10000);        /* timer, LINT0, LINT1, error: masked */
    lapic_write(0x350, 0x10000);
    lapic_write(0x360, 0x10000);
    lapic_write(0x370, 0x10000);
    lapic_write(0x80, 0);               /* TPR: accept everything */
}

void lapic_eoi(void) { lapic_write(0xB0, 0); }

void self_ipi(int vec) {
    lapic_write(0x310, 0);
    lapic_write(0x300, (1 << 18) | (1 << 14) | (u32)(vec & 0xFF));   /* self, assert, fixed */
}

/* ------------------------------------------------------------ start */
NORETURN void rt_main(void) {
    kprintf("BEGIN %s\n", test_name);
    check("boot.multiboot-magic", boot_magic == 0x2BADB002);
    check("boot.long-mode", (rdmsr(MSR_EFER) & EFER_LMA) != 0);

    if (boot_magic == 0x2BADB002) parse_cmdline(boot_info);

    /* The null page is not mapped; the user pages are user-accessible. */
    boot_pt[0] = 0;
    invlpg(0);
    for (u64 a = (u64)__user_start; a < (u64)__user_end; a += 4096) {
        boot_pt[(a >> 12) & 511] |= PTE_U;
        invlpg(a);
    }

    /* The TSS: RSP0, IST1..7, no I/O bitmap (its base is past the limit). */
    _Static_assert(sizeof(struct tss64) == 104, "TSS layout");
    tss.rsp[0] = (u64)rsp0_stack + sizeof rsp0_stack;
    for (int i = 1; i <= 7; i++) tss.ist[i] = IST_TOP(i);
    memset(tss_block.iomap, 0xFF, sizeof tss_block.iomap);
    tss.iomap_base = TSS_NO_IOMAP;
    u64 base = (u64)&tss_block, limit = sizeof tss_block - 1;
    u64 *d = &gdt[SEL_TSS / 8];
    d[0] = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (0x89UL << 40) | (((limit >> 16) & 0xF) << 48) |
           (((base >> 24) & 0xFF) << 56);
    d[1] = base >> 32;
    __asm__ volatile("ltr %w0" :: "r"(SEL_TSS));

    /* Every vector: an interrupt gate at DPL 0 on the current stack. */
    for (int v = 0; v < 256; v++) set_gate(v, isr_stub(v), 0xE, 0, 0, 1);
    load_idt((u64)idt, sizeof idt - 1);

    /* SYSCALL: kernel CS 0x08/SS 0x10; SYSRET: user SS 0x23, CS 0x2B; IF, TF, DF, IOPL, AC masked. */
    wrmsr(0xC0000081, ((u64)0x18 << 48) | ((u64)SEL_KCODE << 32));
    wrmsr(0xC0000082, (u64)syscall_entry);
    wrmsr(0xC0000084, 0x47700);

    /* The legacy PICs stay masked: every interrupt in these tests comes from the local APIC. */
    outb(0x21, 0xFF);
    outb(0xA1, 0xFF);

    test_main();
    finish();
}
