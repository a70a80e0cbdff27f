/* Pending signals across fork (the child starts with none, its mask kept) and execve (the
 * mask, every pending signal, real-time instances with their values, and SIG_IGN are kept;
 * handlers are reset), for an execve from the only thread and from one of several threads. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <sys/wait.h>
#include "signal-modes.h"

static void show(const char *m, const char *who) {
    int rt = SIGRTMIN + 3;
    printf("%s %s: pending usr1 %d usr2 %d rt %d term %d; blocked usr1 %d usr2 %d rt %d term %d\n", m, who,
           is_pending(SIGUSR1), is_pending(SIGUSR2), is_pending(rt), is_pending(SIGTERM),
           is_blocked(SIGUSR1), is_blocked(SIGUSR2), is_blocked(rt), is_blocked(SIGTERM));
}

static void after_exec(const char *m) {
    show(m, "after execve");
    struct sigaction usr2, term;
    sigaction(SIGUSR2, NULL, &usr2);
    sigaction(SIGTERM, NULL, &term);
    printf("%s after execve: usr2 ignored %d, term handler reset %d\n", m, usr2.sa_handler == SIG_IGN,
           term.sa_handler == SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGRTMIN + 3);
    struct timespec zero = { 0, 0 };
    siginfo_t info;
    int r;
    while ((r = sigtimedwait(&set, &info, &zero)) > 0)
        printf("%s after execve: took %d value %d\n", m, r, info.si_code == SI_QUEUE ? info.si_value.sival_int : 0);
    unblock(SIGUSR2);
    printf("%s after execve: usr2 unblocked, still alive\n", m);
}

static const char *self_path;
static void on_term(int s) { (void)s; }

static void body(const char *m) {
    int rt = SIGRTMIN + 3;
    signal(SIGTERM, on_term);
    signal(SIGUSR2, SIG_IGN);
    block(SIGUSR1);
    block(SIGUSR2);
    block(rt);
    block(SIGTERM);
    raise(SIGUSR1);
    kill(getpid(), SIGUSR2);
    for (int i = 1; i <= 3; i++) {
        union sigval v = { .sival_int = i };
        sigqueue(getpid(), rt, v);
    }
    unblock(SIGTERM);
    show(m, "before fork");
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        show(m, "fork child");
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    printf("%s fork child exit %d\n", m, WEXITSTATUS(status));
    show(m, "parent after fork");
    fflush(stdout);
    execl(self_path, self_path, "after-exec", m, (char *)NULL);
    printf("%s execl: %s\n", m, strerror(errno));
}

static void run_one(int threaded) {
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        if (threaded) run_threaded(body);
        else body("1 thread");
        _exit(1);
    }
    int status;
    waitpid(child, &status, 0);
    printf("exit %d\n", WEXITSTATUS(status));
}

int main(int argc, char **argv) {
    self_path = argv[0];
    if (argc > 2 && strcmp(argv[1], "after-exec") == 0) {
        after_exec(argv[2]);
        return 0;
    }
    run_one(0);
    run_one(1);
    return 0;
}
