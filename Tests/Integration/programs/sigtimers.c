/* Timer signals that expire while blocked stay pending until consumed: an interval timer's
 * SIGALRM (taken by sigwaitinfo) and a POSIX timer's SIGUSR2 (delivered when unblocked); timer
 * signals are process-directed, so with several threads the one that does not block them sees
 * them pending. */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/time.h>
#include <time.h>
#include "signal-modes.h"

static volatile sig_atomic_t handled;
static void on_usr2(int s) { (void)s; handled++; }

static void sleep_ms(int ms) {
    struct timespec t = { 0, ms * 1000000L };
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {}
}

static void body(const char *m) {
    block(SIGALRM);
    struct itimerval it = { { 0, 0 }, { 0, 20000 } };
    setitimer(ITIMER_REAL, &it, NULL);
    sleep_ms(80);
    printf("%s itimer expired while blocked: pending %d\n", m, is_pending(SIGALRM));
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGALRM);
    siginfo_t info;
    int r = sigwaitinfo(&set, &info);
    printf("%s sigwaitinfo: %d, pending after %d\n", m, r, is_pending(SIGALRM));
    unblock(SIGALRM);

    handled = 0;
    signal(SIGUSR2, on_usr2);
    block(SIGUSR2);
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGUSR2;
    timer_t timer;
    if (timer_create(CLOCK_MONOTONIC, &ev, &timer) != 0) { printf("%s timer_create: %s\n", m, strerror(errno)); return; }
    struct itimerspec spec = { { 0, 0 }, { 0, 20000000 } };
    timer_settime(timer, 0, &spec, NULL);
    sleep_ms(80);
    printf("%s POSIX timer expired while blocked: pending %d handled %d\n", m, is_pending(SIGUSR2), (int)handled);
    unblock(SIGUSR2);
    printf("%s unblocked: pending %d handled %d\n", m, is_pending(SIGUSR2), (int)handled);
    timer_delete(timer);
}

int main(void) {
    run_modes(body);
    return 0;
}
