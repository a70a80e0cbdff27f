/* The runtime every test kernel links against: reporting on the debug console, the end of the
   run through isa-debug-exit, the IDT/TSS, catching faults, page mapping, CPL 3 and the local
   APIC. A test kernel defines `void test_main(void)`; the runtime calls it in long mode at CPL 0
   with interrupts off and then ends the run (PASS unless a check failed). */
#ifndef RUNTIME_H
#define RUNTIME_H

#include "layout.h"

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;
typedef long i64;
typedef unsigned long size_t;

#define NULL ((void *)0)
#define NORETURN __attribute__((noreturn))
#define USER_TEXT __attribute__((section(".user.text"), noinline))
#define USER_DATA __attribute__((section(".user.data")))

/* ------------------------------------------------------------ the test kernel's entry */
void test_main(void);

/* ------------------------------------------------------------ reporting */
void putc_dbg(char c);
void puts_dbg(const char *s);
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "NAME = VALUE" and, when VALUE != WANT, " FAIL (want WANT)" and counts a failure. */
void check_eq(const char *name, u64 got, u64 want);
/* Prints "NAME: ok" or "NAME: FAIL" and counts a failure. */
void check(const char *name, int ok);
/* Ends the run: "PASS" (debug-exit 0x10) or "FAIL n" (debug-exit 0x11). */
NORETURN void finish(void);
/* Prints "EXPECT END reset": the runner must see a machine reset next, not a debug exit. */
void expect_reset(void);
extern int failures;
/* Architecture-only checks: results the SDM defines where the reference runner (QEMU 7.2's TCG)
   is known to deviate. Their report lines start with "arch-only "; run-suite.sh leaves them out of
   the comparison between runners. arch_only(NAME) returns 1 when the runner checks them, else
   prints "arch-only NAME: not checked on this runner" and returns 0. A runner opts out by passing
   "arch-only=skip" on the Multiboot command line. */
int arch_only(const char *name);

/* ------------------------------------------------------------ tiny libc */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);

/* ------------------------------------------------------------ traps */
struct trap_frame {
    u64 rax, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15;
    u64 vec, ec;
    u64 rip, cs, rflags, rsp, ss;
};
/* A handler for one vector: returns 1 when it handled the trap (the frame is then resumed). */
typedef int (*trap_handler)(struct trap_frame *f);
void set_handler(int vec, trap_handler h);
/* Sets IDT gate VEC: type 0xE (interrupt) or 0xF (trap), DPL, IST index, present. */
void set_gate(int vec, void *target, int type, int dpl, int ist, int present);
void *isr_stub(int vec);
extern u64 idt[512];
void load_idt(u64 base, u16 limit);

/* The last caught fault: vector, error code, CR2 (page faults only), and the faulting frame. */
struct fault {
    u64 vec, ec, cr2, rip, cs, rflags, rsp, ss, frame_addr;
};
extern struct fault last_fault;
struct catch_buf { u64 rbx, rbp, r12, r13, r14, r15, rsp, rip, rflags, armed; };
extern struct catch_buf rt_catch;
int catch_arm(struct catch_buf *b) __attribute__((returns_twice));
NORETURN void catch_jump(struct catch_buf *b, long value);
/* Runs fn(arg); returns -1 if it completed, else the vector of the fault that ended it (details
   in last_fault). */
int probe(void (*fn)(void *), void *arg);
int try_read(u64 va, int size, u64 *out);
int try_write(u64 va, int size, u64 val);
int try_exec(u64 va);
/* Prints "NAME: #VEC ec=.. [cr2=..]" or "NAME: no fault", and checks against the wanted ones
   (want_vec -1: no fault; want_cr2 used for #PF only). */
void check_fault(const char *name, int vec, int want_vec, u64 want_ec, u64 want_cr2);
/* The same for a saved fault. */
void check_fault_of(const char *name, int vec, const struct fault *f, int want_vec, u64 want_ec, u64 want_cr2);
/* Error-code bits printed and compared (all unless a test masks some). */
extern u64 fault_ec_mask;

/* ------------------------------------------------------------ TSS */
struct tss64 {
    u32 reserved0;
    u64 rsp[3];
    u64 ist[8];                 /* ist[1..7]; ist[0] is the reserved quadword before IST1 */
    u64 reserved2;
    u16 reserved3;
    u16 iomap_base;
} __attribute__((packed));
/* The TSS and the I/O permission bitmap after it (inside the TSS limit). iomap_base starts past
   the bitmap's end: no bitmap, every port faults at CPL 3 unless IOPL = 3. */
struct tss_block { struct tss64 tss; u8 iomap[8192 + 1]; } __attribute__((packed));
extern struct tss_block tss_block;
#define tss (tss_block.tss)
#define TSS_NO_IOMAP ((u16)sizeof(struct tss_block))
extern u8 ist_stacks[7][4096];
#define IST_TOP(n) ((u64)ist_stacks[(n) - 1] + 4096)
extern u64 gdt[];
extern struct { u16 limit; u64 base; } __attribute__((packed)) gdtr;

/* ------------------------------------------------------------ paging */
#define PTE_P   (1UL << 0)
#define PTE_W   (1UL << 1)
#define PTE_U   (1UL << 2)
#define PTE_PWT (1UL << 3)
#define PTE_PCD (1UL << 4)
#define PTE_A   (1UL << 5)
#define PTE_D   (1UL << 6)
#define PTE_PS  (1UL << 7)
#define PTE_G   (1UL << 8)
#define PTE_NX  (1UL << 63)
#define PTE_ADDR 0x000FFFFFFFFFF000UL

#define PF_P    1
#define PF_W    2
#define PF_U    4
#define PF_RSVD 8
#define PF_I    16

/* The test window: PML4 slot 1, 512 GiB .. 1 TiB, empty at start; tests map what they need. */
#define WINDOW 0x0000008000000000UL

extern u64 boot_pml4[512], boot_pdpt[512], boot_pd[2048], boot_pt[512];
/* A zeroed 4 KiB page from the runtime's pool (identity-mapped, so its address is physical). */
void *alloc_page(void);
/* The entry that maps VA at LEVEL (1 = PTE, 2 = PDE, 3 = PDPTE, 4 = PML4E), creating the missing
   tables above it with P|W|U. */
u64 *walk_entry(u64 va, int level);
/* Maps the 4 KiB page VA to PA with FLAGS (P is not implied) and invalidates VA. */
void map_page(u64 va, u64 pa, u64 flags);
void invlpg(u64 va);

/* ------------------------------------------------------------ CPL 3 */
/* Runs fn(arg) at CPL 3 on the user stack (fn must be USER_TEXT). Returns the value the user code
   passed to sys_exit, or -1 - vector when a fault ended it (details in last_fault). */
i64 run_user(void (*fn)(u64), u64 arg);
/* User side: the system calls the runtime's SYSCALL handler implements. */
#define SYS_EXIT 0
#define SYS_ECHO 1          /* returns its argument + 1 */
#define SYS_FRAME 2         /* returns the value of RCX (the user's RIP) the kernel saw */
#define SYS_KFLAGS 3        /* returns RFLAGS inside the kernel (after SFMASK) */
#define SYS_KSEGS 4         /* returns CS | SS << 16 inside the kernel */
/* A system call from user code (inlined into USER_TEXT functions). */
static inline __attribute__((always_inline)) u64 user_syscall(u64 nr, u64 a) {
    u64 r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(nr), "D"(a) : "rcx", "r11", "memory");
    return r;
}
/* User-mode probes for run_user: read a byte (exit value: the byte), write 0x5A, call VA. */
void user_read8(u64 va);
void user_write8(u64 va);
void user_exec(u64 va);
/* The vector that ended a run_user, or -1 when the user code exited (for check_fault). */
static inline int user_fault(i64 r) { return r < 0 ? (int)(-1 - r) : -1; }
/* RFLAGS bits run_user sets for the user code in addition to the kernel's (e.g. IF). */
extern u64 user_rflags_or;
extern u8 user_stack[];
#define USER_STACK_TOP ((u64)user_stack + 8192)
extern u64 syscall_user_rsp;
void syscall_entry(void);
void enter_user(u64 rip, u64 rsp, u64 arg);

/* ------------------------------------------------------------ local APIC */
#define LAPIC 0xFEE00000UL
static inline u32 lapic_read(u32 reg) { return *(volatile u32 *)(LAPIC + reg); }
static inline void lapic_write(u32 reg, u32 v) { *(volatile u32 *)(LAPIC + reg) = v; }
void lapic_enable(void);
void lapic_eoi(void);
void self_ipi(int vec);

/* ------------------------------------------------------------ instructions */
static inline void outb(u16 p, u8 v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(p)); }
static inline void outw(u16 p, u16 v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(p)); }
static inline void outl(u16 p, u32 v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(p)); }
static inline u8 inb(u16 p) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline u16 inw(u16 p) { u16 v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline u32 inl(u16 p) { u32 v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline u64 rdmsr(u32 m) { u32 lo, hi; __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(m)); return ((u64)hi << 32) | lo; }
static inline void wrmsr(u32 m, u64 v) { __asm__ volatile("wrmsr" :: "c"(m), "a"((u32)v), "d"((u32)(v >> 32))); }
static inline u64 read_cr0(void) { u64 v; __asm__ volatile("mov %%cr0, %0" : "=r"(v)); return v; }
static inline u64 read_cr2(void) { u64 v; __asm__ volatile("mov %%cr2, %0" : "=r"(v)); return v; }
static inline u64 read_cr3(void) { u64 v; __asm__ volatile("mov %%cr3, %0" : "=r"(v)); return v; }
static inline u64 read_cr4(void) { u64 v; __asm__ volatile("mov %%cr4, %0" : "=r"(v)); return v; }
static inline void write_cr0(u64 v) { __asm__ volatile("mov %0, %%cr0" :: "r"(v) : "memory"); }
static inline void write_cr3(u64 v) { __asm__ volatile("mov %0, %%cr3" :: "r"(v) : "memory"); }
static inline void write_cr4(u64 v) { __asm__ volatile("mov %0, %%cr4" :: "r"(v) : "memory"); }
static inline void cpuid(u32 leaf, u32 sub, u32 *a, u32 *b, u32 *c, u32 *d) {
    __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}
static inline u64 rdtsc(void) { u32 lo, hi; __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi)); return ((u64)hi << 32) | lo; }
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline u64 read_flags(void) { u64 f; __asm__ volatile("pushfq; popq %0" : "=r"(f)); return f; }
#define barrier() __asm__ volatile("" ::: "memory")

#endif
