/* Guest signal handlers: synchronous faults (SIGSEGV, SIGFPE, SIGILL) with siginfo, recovered
 * with siglongjmp; raise() with a handler; a pending signal delivered when unblocked; the
 * interrupted registers and SSE state intact after the handler returns. */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static sigjmp_buf jump;
static volatile int last_signal, last_code;
static volatile void *last_address;
static volatile int usr1_count;

static void fault(int sig, siginfo_t *info, void *context) {
    (void)context;
    last_signal = sig;
    last_code = info->si_code;
    last_address = info->si_addr;
    siglongjmp(jump, 1);
}

static void usr1(int sig) {
    usr1_count += sig;
    volatile double x = 1.5;
    for (int i = 0; i < 10; i++) x = x * 1.25 + 0.5; /* clobbers SSE registers */
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fault;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);
    sigaction(SIGILL, &sa, NULL);

    if (sigsetjmp(jump, 1) == 0) { *(volatile int *)0x1234 = 1; }
    printf("SIGSEGV: sig=%d code=%d addr=%p\n", last_signal, last_code, (void *)last_address);
    if (sigsetjmp(jump, 1) == 0) { volatile int zero = 0; printf("%d\n", 7 / zero); }
    printf("SIGFPE: sig=%d code=%d\n", last_signal, last_code);
    if (sigsetjmp(jump, 1) == 0) { __asm__ volatile("ud2"); }
    printf("SIGILL: sig=%d code=%d\n", last_signal, last_code);

    signal(SIGUSR1, usr1);
    double before = 3.25;
    long marker = 0x1234567890L;
    raise(SIGUSR1);
    printf("after raise: count=%d before=%.2f marker=%lx\n", usr1_count, before, marker);

    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, &old);
    raise(SIGUSR1);
    printf("blocked: count=%d\n", usr1_count);
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("unblocked: count=%d\n", usr1_count);

    signal(SIGUSR2, SIG_IGN);
    raise(SIGUSR2);
    printf("ignored SIGUSR2\n");
    signal(SIGUSR2, SIG_DFL);
    fflush(stdout);
    raise(SIGUSR2); /* default action: terminate */
    printf("not reached\n");
    return 0;
}
