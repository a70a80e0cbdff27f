/* rt_sigtimedwait / sigwaitinfo consume pending signals: thread-directed ones before
 * process-directed ones, the lowest number first, real-time instances one by one in order, each
 * with its siginfo (si_code, the sender, sigqueue's value); a zero timeout only looks, a timeout
 * ends with EAGAIN; a signal another thread sends wakes the waiter; a signal outside the set
 * that has a handler ends the wait with EINTR. */
#define _GNU_SOURCE
#include <errno.h>
#include <time.h>
#include "signal-modes.h"

static pthread_t waiter;
static volatile sig_atomic_t handled;
static void on_usr2(int s) { (void)s; handled++; }

static const char *code_name(int code) {
    switch (code) {
    case SI_USER: return "SI_USER";
    case SI_QUEUE: return "SI_QUEUE";
    case SI_TKILL: return "SI_TKILL";
    default: return "other";
    }
}

static void *poke_waiter(void *arg) {
    block_everything();
    usleep(50000);
    if (arg == NULL) pthread_kill(waiter, SIGUSR1);
    else kill(getpid(), *(int *)arg);
    return NULL;
}

static void body(const char *m) {
    int rt = SIGRTMIN + 1;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, rt);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct timespec zero = { 0, 0 }, short_wait = { 0, 30000000 };
    siginfo_t info;

    int r = sigtimedwait(&set, &info, &zero);
    printf("%s nothing pending, zero timeout: %d %s\n", m, r, r < 0 ? strerror(errno) : "-");
    kill(getpid(), SIGTERM);
    kill(getpid(), SIGTERM);
    for (int i = 1; i <= 3; i++) {
        union sigval v = { .sival_int = 100 + i };
        sigqueue(getpid(), rt, v);
    }
    raise(SIGUSR1);
    raise(SIGUSR1);
    raise(rt);
    printf("%s pending before waiting: usr1 %d term %d rt %d\n", m, is_pending(SIGUSR1), is_pending(SIGTERM), is_pending(rt));
    for (int i = 0; i < 7; i++) {
        memset(&info, 0, sizeof info);
        r = i % 2 ? sigwaitinfo(&set, &info) : sigtimedwait(&set, &info, &zero);
        if (r < 0) { printf("%s wait %d: %s\n", m, i, strerror(errno)); continue; }
        printf("%s wait %d: signal %s%d code %s from us %d value %d\n", m, i, r >= SIGRTMIN ? "RTMIN+" : "",
               r >= SIGRTMIN ? r - SIGRTMIN : r, code_name(info.si_code), info.si_pid == getpid(),
               info.si_code == SI_QUEUE ? info.si_value.sival_int : 0);
    }
    printf("%s after: usr1 %d term %d rt %d\n", m, is_pending(SIGUSR1), is_pending(SIGTERM), is_pending(rt));
    errno = 0;
    r = sigtimedwait(&set, &info, &short_wait);
    printf("%s 30 ms timeout: %d %s\n", m, r, r < 0 ? strerror(errno) : "-");

    waiter = pthread_self();
    pthread_t helper;
    pthread_create(&helper, NULL, poke_waiter, NULL);
    r = sigwaitinfo(&set, &info);
    printf("%s woken by pthread_kill from another thread: %d code %s\n", m, r, code_name(info.si_code));
    pthread_join(helper, NULL);
    static int term = SIGTERM;
    pthread_create(&helper, NULL, poke_waiter, &term);
    r = sigwaitinfo(&set, &info);
    printf("%s woken by kill from another thread: %d code %s\n", m, r, code_name(info.si_code));
    pthread_join(helper, NULL);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr2;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR2, &sa, NULL);
    static int usr2 = SIGUSR2;
    struct timespec long_wait = { 5, 0 };
    handled = 0;
    pthread_create(&helper, NULL, poke_waiter, &usr2);
    errno = 0;
    r = sigtimedwait(&set, &info, &long_wait);
    printf("%s a handled signal outside the set: %d %s, handled %d\n", m, r, r < 0 ? strerror(errno) : "-", (int)handled);
    pthread_join(helper, NULL);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

int main(void) {
    run_modes(body);
    return 0;
}
