/* Signals sent by another process while blocked: pending (two SIGUSR2 coalesce into one),
 * delivered to the handler when unblocked, or taken by sigwaitinfo; with several threads the
 * one that does not block them receives them. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <sys/wait.h>
#include "signal-modes.h"

static volatile sig_atomic_t hits[65];
static void on_signal(int s) { hits[s]++; }

static void from_child(int first, int second) {
    fflush(stdout);
    pid_t parent = getpid();
    pid_t child = fork();
    if (child == 0) {
        kill(parent, first);
        if (second) kill(parent, second);
        _exit(0);
    }
    waitpid(child, NULL, 0);
}

static void body(const char *m) {
    memset((void *)hits, 0, sizeof hits);
    signal(SIGUSR1, on_signal);
    signal(SIGUSR2, on_signal);
    signal(SIGTERM, on_signal);
    block(SIGUSR1);
    block(SIGUSR2);
    block(SIGTERM);
    from_child(SIGUSR1, 0);
    from_child(SIGUSR2, SIGUSR2);
    from_child(SIGTERM, 0);
    printf("%s from another process: pending usr1 %d usr2 %d term %d, handled %d %d %d\n", m, is_pending(SIGUSR1),
           is_pending(SIGUSR2), is_pending(SIGTERM), hits[SIGUSR1], hits[SIGUSR2], hits[SIGTERM]);
    unblock(SIGUSR2);
    printf("%s usr2 unblocked: pending %d handled %d (coalesced)\n", m, is_pending(SIGUSR2), hits[SIGUSR2]);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGTERM);
    siginfo_t info;
    int a = sigwaitinfo(&set, &info);
    int b = sigwaitinfo(&set, &info);
    printf("%s sigwaitinfo took %d then %d; pending usr1 %d term %d, handled %d %d\n", m, a, b, is_pending(SIGUSR1),
           is_pending(SIGTERM), hits[SIGUSR1], hits[SIGTERM]);
    signal(SIGUSR1, SIG_IGN);
    from_child(SIGUSR1, 0);
    int before = is_pending(SIGUSR1);
    signal(SIGUSR1, on_signal);
    printf("%s ignored while blocked: pending %d, after a handler is set %d\n", m, before, is_pending(SIGUSR1));
    unblock(SIGUSR1);
    unblock(SIGTERM);
    printf("%s unblocked: handled %d\n", m, hits[SIGUSR1]);
}

int main(void) {
    run_modes(body);
    return 0;
}
