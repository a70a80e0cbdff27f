/* A timer signal that arrives during a long REPE CMPSB is delivered in the middle of it: the
 * handler sees RIP at the REP instruction with RCX > 0 (iterations left), and the instruction
 * then resumes and finishes with the right result. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <ucontext.h>

extern char rep_insn[];
static volatile int delivered, inside;
static volatile uint64_t left;

static void handler(int sig, siginfo_t *info, void *context) {
    (void)sig; (void)info;
    ucontext_t *uc = context;
    delivered++;
    if ((uint64_t)uc->uc_mcontext.gregs[REG_RIP] == (uint64_t)rep_insn && uc->uc_mcontext.gregs[REG_RCX] > 0) {
        inside++;
        left = uc->uc_mcontext.gregs[REG_RCX];
    }
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    size_t n = 16 << 20;
    unsigned char *a = malloc(n), *b = malloc(n);
    if (!a || !b) return 1;
    for (size_t i = 0; i < n; i++) a[i] = b[i] = (unsigned char)(i * 13 + 7);
    b[n - 1] ^= 1; /* differs at the very end */
    struct itimerval v = {{0, 0}, {0, 2000}};
    setitimer(ITIMER_REAL, &v, NULL);
    int rounds = 0, good = 1;
    while (!delivered && rounds < 100000) {
        const void *s = a, *d = b;
        uint64_t c = n;
        unsigned char zf;
        __asm__ volatile("cld\nrep_insn: repe cmpsb\nsetz %3" : "+S"(s), "+D"(d), "+c"(c), "=r"(zf) : : "memory", "cc");
        good &= c == 0 && zf == 0 && s == a + n && d == b + n;
        rounds++;
    }
    printf("signal delivered %d, inside the REP with iterations left %d (fewer than the count %d), results right %d\n",
           delivered, inside, left > 0 && left < n, good);
    return 0;
}
