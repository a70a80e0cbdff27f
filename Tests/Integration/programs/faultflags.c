/* The flags a signal handler sees for a fault in the middle of straight-line code: an ADD sets
 * them, a load from an unmapped page faults, a SUB after it would overwrite them. The handler
 * prints uc_mcontext's EFLAGS (arithmetic bits) and RIP relative to the load, and skips the
 * load. Also a REP STOSB that runs into an unmapped page: RCX and RDI at the fault; and the
 * si_code, trap number, error code and CR2 of each fault (a write to a read-only page too). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

extern char load_insn[], load_end[], stos_insn[], store_insn[], store_end[];
static volatile uint64_t seen_flags, seen_rip, seen_rcx, seen_rdi, seen_trap, seen_err, seen_cr2;
static volatile int seen_code;

static void handler(int sig, siginfo_t *info, void *context) {
    (void)sig;
    ucontext_t *uc = context;
    seen_flags = uc->uc_mcontext.gregs[REG_EFL] & 0x8D5; /* OF SF ZF AF PF CF */
    seen_rip = uc->uc_mcontext.gregs[REG_RIP];
    seen_rcx = uc->uc_mcontext.gregs[REG_RCX];
    seen_rdi = uc->uc_mcontext.gregs[REG_RDI];
    seen_trap = uc->uc_mcontext.gregs[REG_TRAPNO];
    seen_err = uc->uc_mcontext.gregs[REG_ERR] & 7; /* protection, write, user */
    seen_cr2 = uc->uc_mcontext.gregs[REG_CR2];
    seen_code = info->si_code;
    if (seen_rip == (uint64_t)load_insn) uc->uc_mcontext.gregs[REG_RIP] = (greg_t)load_end;
    else if (seen_rip == (uint64_t)store_insn) uc->uc_mcontext.gregs[REG_RIP] = (greg_t)store_end;
    else uc->uc_mcontext.gregs[REG_RCX] = 0; /* end the REP STOSB: it resumes with nothing left */
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    char *page = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(page + 4096, 4096);
    static const uint64_t pairs[][2] = {{~0ull, 1}, {0x7FFFFFFFFFFFFFFFull, 1}, {5, 6}, {0x80, 0x80}};
    for (int k = 0; k < 4; k++) {
        uint64_t a = pairs[k][0], b = pairs[k][1], out = 0;
        __asm__ volatile(
            "add %[b], %[a]\n"
            "load_insn: mov (%[bad]), %[out]\n"
            "load_end: sub %[a], %[a]\n"
            : [a] "+r"(a), [out] "+r"(out)
            : [b] "r"(b), [bad] "r"(page + 4096)
            : "cc", "memory");
        printf("add %d: handler saw flags %#llx at the load %d; after: %llu\n", k, (unsigned long long)seen_flags,
               seen_rip == (uint64_t)load_insn, (unsigned long long)a);
    }
    printf("unmapped read: si_code %d trapno %llu err %llu cr2 at the page %d\n", seen_code, (unsigned long long)seen_trap,
           (unsigned long long)seen_err, seen_cr2 == (uint64_t)(page + 4096));
    page[8] = 0; /* resident: the error code's present bit is the page table's, not the mapping's */
    mprotect(page, 4096, PROT_READ);
    __asm__ volatile("store_insn: movb $1, (%0)\nstore_end:" : : "r"(page + 8) : "memory");
    printf("read-only write: si_code %d trapno %llu err %llu cr2 %d\n", seen_code, (unsigned long long)seen_trap,
           (unsigned long long)seen_err, seen_cr2 == (uint64_t)(page + 8));
    mprotect(page, 4096, PROT_READ | PROT_WRITE);
    /* REP STOSB of 100 bytes from 40 bytes before the unmapped page. */
    void *d = page + 4096 - 40;
    uint64_t c = 100;
    __asm__ volatile("stos_insn: rep stosb" : "+D"(d), "+c"(c) : "a"(0x5A) : "memory");
    printf("rep stosb: fault at the instruction %d, rcx %llu, rdi at the page end %d, last byte %#x\n",
           seen_rip == (uint64_t)stos_insn, (unsigned long long)seen_rcx, seen_rdi == (uint64_t)(page + 4096),
           (unsigned char)page[4095]);
    return 0;
}
