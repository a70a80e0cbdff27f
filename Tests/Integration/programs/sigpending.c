/* Signals that become pending while blocked (raise, kill, tgkill, pthread_kill, sigqueue) and
 * how they leave: sigprocmask or pthread_sigmask unblocking them, rt_sigreturn restoring a mask
 * that blocked one during a handler, sigsuspend. Standard signals coalesce, real-time ones
 * queue every instance in order; a blocked signal whose action is SIG_IGN stays pending (and is
 * dropped when unblocked), and making a pending signal's action "ignore" discards it. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include "signal-modes.h"

static volatile sig_atomic_t hits[65];
static char order[256];
static volatile int order_len;
static volatile sig_atomic_t pending_in_handler = -2;

static void note(int s) {
    if (order_len < 250) order_len += snprintf(order + order_len, sizeof order - order_len, "%d ", s);
}

static void on_signal(int s) { hits[s]++; note(s); }

static void on_info(int s, siginfo_t *info, void *context) {
    (void)context;
    hits[s]++;
    if (order_len < 250) order_len += snprintf(order + order_len, sizeof order - order_len, "%d:%d ", s, info->si_value.sival_int);
}

/* USR1's handler blocks USR2 (sa_mask) and raises it: pending until rt_sigreturn. */
static void on_usr1_raising(int s) {
    note(s);
    raise(SIGUSR2);
    pending_in_handler = is_pending(SIGUSR2);
    note(-s);
}

static void handle(int s, void (*f)(int), int mask_signal) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = f;
    sigemptyset(&sa.sa_mask);
    if (mask_signal) sigaddset(&sa.sa_mask, mask_signal);
    sigaction(s, &sa, NULL);
}

static void reset(void) {
    memset((void *)hits, 0, sizeof hits);
    order_len = 0;
    order[0] = 0;
}

static void body(const char *m) {
    int rt = SIGRTMIN + 2;
    handle(SIGUSR1, on_signal, 0);
    handle(SIGUSR2, on_signal, 0);
    handle(SIGTERM, on_signal, 0);
    handle(SIGWINCH, on_signal, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_info;
    sa.sa_flags = SA_SIGINFO;
    sigaction(rt, &sa, NULL);

    reset();
    block(SIGUSR1);
    raise(SIGUSR1);
    printf("%s raise: pending %d handled %d\n", m, is_pending(SIGUSR1), hits[SIGUSR1]);
    raise(SIGUSR1);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    printf("%s sigprocmask unblock: pending %d handled %d (coalesced)\n", m, is_pending(SIGUSR1), hits[SIGUSR1]);

    reset();
    block(SIGUSR1);
    kill(getpid(), SIGUSR1);
    printf("%s kill self: pending %d handled %d\n", m, is_pending(SIGUSR1), hits[SIGUSR1]);
    unblock(SIGUSR1);
    printf("%s pthread_sigmask unblock: pending %d handled %d\n", m, is_pending(SIGUSR1), hits[SIGUSR1]);

    reset();
    block(SIGTERM);
    syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), SIGTERM);
    pthread_kill(pthread_self(), SIGTERM);
    printf("%s tgkill + pthread_kill: pending %d handled %d\n", m, is_pending(SIGTERM), hits[SIGTERM]);
    unblock(SIGTERM);
    printf("%s unblocked: pending %d handled %d\n", m, is_pending(SIGTERM), hits[SIGTERM]);

    reset();
    block(rt);
    for (int i = 1; i <= 4; i++) {
        union sigval v = { .sival_int = i };
        if (sigqueue(getpid(), rt, v) != 0) printf("%s sigqueue: %s\n", m, strerror(errno));
    }
    raise(rt);
    printf("%s SIGRTMIN+2 x5: pending %d handled %d\n", m, is_pending(rt), hits[rt]);
    unblock(rt);
    printf("%s unblocked: pending %d handled %d order %s\n", m, is_pending(rt), hits[rt], order);

    reset();
    block(SIGUSR1);
    block(SIGUSR2);
    block(rt);
    raise(rt);
    raise(SIGUSR2);
    raise(SIGUSR1);
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, NULL);
    printf("%s three pending, one unblock: delivered lowest first: %s\n", m, order);

    reset();
    signal(SIGUSR2, SIG_IGN);
    block(SIGUSR2);
    raise(SIGUSR2);
    kill(getpid(), SIGUSR2);
    printf("%s SIG_IGN while blocked: pending %d\n", m, is_pending(SIGUSR2));
    unblock(SIGUSR2);
    printf("%s SIG_IGN unblocked: pending %d handled %d\n", m, is_pending(SIGUSR2), hits[SIGUSR2]);
    raise(SIGUSR2);
    printf("%s SIG_IGN not blocked: pending %d handled %d\n", m, is_pending(SIGUSR2), hits[SIGUSR2]);

    reset();
    handle(SIGUSR2, on_signal, 0);
    block(SIGUSR2);
    raise(SIGUSR2);
    int before = is_pending(SIGUSR2);
    signal(SIGUSR2, SIG_IGN);
    printf("%s setting SIG_IGN: pending %d -> %d\n", m, before, is_pending(SIGUSR2));
    handle(SIGUSR2, on_signal, 0);
    unblock(SIGUSR2);
    printf("%s handler again, unblocked: handled %d\n", m, hits[SIGUSR2]);

    reset();
    block(SIGWINCH);
    raise(SIGWINCH);
    before = is_pending(SIGWINCH);
    signal(SIGWINCH, SIG_DFL); /* default-ignored: discards it too */
    printf("%s SIGWINCH to SIG_DFL: pending %d -> %d\n", m, before, is_pending(SIGWINCH));
    block(SIGCHLD);
    raise(SIGCHLD);
    printf("%s SIGCHLD (SIG_DFL, blocked): pending %d\n", m, is_pending(SIGCHLD));
    unblock(SIGCHLD);
    printf("%s SIGCHLD unblocked: pending %d\n", m, is_pending(SIGCHLD));
    unblock(SIGWINCH);

    reset();
    handle(SIGUSR1, on_usr1_raising, SIGUSR2);
    handle(SIGUSR2, on_signal, 0);
    pending_in_handler = -2;
    raise(SIGUSR1);
    printf("%s rt_sigreturn restores the mask: USR2 pending in handler %d, order %s, usr2 blocked after %d\n", m,
           (int)pending_in_handler, order, is_blocked(SIGUSR2));

    reset();
    handle(SIGUSR1, on_signal, 0);
    block(SIGUSR1);
    raise(SIGUSR1);
    sigset_t wait_mask;
    sigemptyset(&wait_mask);
    int r = sigsuspend(&wait_mask);
    printf("%s sigsuspend on a pending one: %d %s, handled %d, blocked after %d, pending %d\n", m, r,
           r < 0 ? strerror(errno) : "-", hits[SIGUSR1], is_blocked(SIGUSR1), is_pending(SIGUSR1));
    unblock(SIGUSR1);
}

int main(void) {
    run_modes(body);
    return 0;
}
