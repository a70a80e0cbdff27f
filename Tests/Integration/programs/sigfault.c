/* A synchronous fault whose signal is blocked (or ignored) kills the process even when a
 * handler is installed, as Linux does: a NULL store with SIGSEGV blocked, an integer division
 * by zero with SIGFPE blocked, ud2 with SIGILL blocked, a NULL store with SIGSEGV ignored; each
 * in a child, from the only thread and from one of several threads. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/wait.h>
#include "signal-modes.h"

static volatile sig_atomic_t handled;
static volatile int divisor;
static int which;

static void on_fault(int s) { (void)s; handled++; _exit(42); }

static void fault(const char *m) {
    (void)m;
    int s = which == 0 || which == 3 ? SIGSEGV : which == 1 ? SIGFPE : SIGILL;
    if (which == 3) signal(s, SIG_IGN);
    else signal(s, on_fault);
    if (which != 3) block(s);
    switch (which) {
    case 0: case 3: *(volatile int *)0 = 1; break;
    case 1: divisor = 100 / divisor; break;
    default: __asm__ volatile("ud2"); break;
    }
    printf("survived\n");
}

int main(void) {
    const char *names[] = { "SIGSEGV blocked", "SIGFPE blocked", "SIGILL blocked", "SIGSEGV ignored" };
    for (int threaded = 0; threaded < 2; threaded++) {
        for (which = 0; which < 4; which++) {
            fflush(stdout);
            pid_t child = fork();
            if (child == 0) {
                if (threaded) run_threaded(fault);
                else fault("1 thread");
                _exit(0);
            }
            int status;
            waitpid(child, &status, 0);
            printf("%s %s: %s %d\n", threaded ? "threads" : "1 thread", names[which],
                   WIFSIGNALED(status) ? "killed by" : "exit", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        }
    }
    return 0;
}
