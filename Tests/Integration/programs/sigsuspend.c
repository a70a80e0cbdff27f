/* rt_sigsuspend: a signal blocked beforehand and already pending, one sent by a child process,
 * one sent by another thread; each time the handler runs once, sigsuspend returns EINTR and
 * the mask from before the call is back. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t handled;
static volatile sig_atomic_t blocked_in_handler;

static void on_usr1(int s) {
    (void)s;
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    blocked_in_handler = sigismember(&now, SIGUSR1) + 2 * sigismember(&now, SIGUSR2);
    handled++;
}

static void *sender(void *arg) {
    (void)arg;
    usleep(50000);
    kill(getpid(), SIGUSR1);
    return NULL;
}

static void report(const char *what, int r) {
    sigset_t after;
    sigprocmask(SIG_BLOCK, NULL, &after);
    printf("%s: returned %d errno %s, handled %d, in handler usr1 %d usr2 %d, after: usr1 blocked %d usr2 blocked %d\n",
           what, r, r < 0 ? strerror(errno) : "-", (int)handled, blocked_in_handler & 1, blocked_in_handler >> 1,
           sigismember(&after, SIGUSR1), sigismember(&after, SIGUSR2));
    handled = 0;
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGWINCH, SIG_IGN);

    sigset_t block, wait_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, NULL);
    sigemptyset(&wait_mask);

    kill(getpid(), SIGWINCH); /* ignored: must not end the wait */
    kill(getpid(), SIGUSR1);  /* pending while blocked */
    report("pending", sigsuspend(&wait_mask));

    pid_t child = fork();
    if (child == 0) {
        usleep(50000);
        kill(getppid(), SIGUSR1);
        _exit(0);
    }
    report("from child", sigsuspend(&wait_mask));
    waitpid(child, NULL, 0);

    pthread_t t;
    pthread_create(&t, NULL, sender, NULL);
    report("from thread", sigsuspend(&wait_mask));
    pthread_join(t, NULL);
    return 0;
}
