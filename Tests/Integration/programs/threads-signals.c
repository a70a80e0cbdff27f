/* Signals and threads: pthread_kill reaches exactly the target thread (interrupting its wait),
 * a thread-directed signal waits while the thread blocks it, a process-directed kill() goes to
 * the thread that does not block it, and pthread_exit from a non-main thread while others run. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static pthread_t target_a, target_b, target_c;
static volatile sig_atomic_t got_a, got_b, got_c, wrong_thread;
static volatile int b_ready, b_sent, c_ready;

static void on_usr1(int sig) {
    (void)sig;
    pthread_t self = pthread_self();
    if (pthread_equal(self, target_a)) got_a++;
    else if (pthread_equal(self, target_b)) got_b++;
    else wrong_thread++;
}

static void on_usr2(int sig) {
    (void)sig;
    if (pthread_equal(pthread_self(), target_c)) got_c++;
    else wrong_thread++;
}

static void *thread_a(void *arg) {
    (void)arg;
    int interrupted = 0;
    while (!got_a) {
        if (poll(NULL, 0, 20) < 0 && errno == EINTR) interrupted = 1;
    }
    return (void *)(intptr_t)(interrupted ? 2 : 1);
}

static void *thread_b(void *arg) {
    (void)arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    __atomic_store_n(&b_ready, 1, __ATOMIC_SEQ_CST);
    while (!__atomic_load_n(&b_sent, __ATOMIC_SEQ_CST)) poll(NULL, 0, 5);
    poll(NULL, 0, 50);
    int before = got_b;
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    int after = got_b;
    return (void *)(intptr_t)(before * 10 + after);
}

static void *thread_c(void *arg) {
    (void)arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL); /* inherited blocked from main */
    __atomic_store_n(&c_ready, 1, __ATOMIC_SEQ_CST);
    while (!got_c) poll(NULL, 0, 20);
    return NULL;
}

static long spins;
static void finish_early(void) { pthread_exit((void *)(intptr_t)42); }
static void *thread_d(void *arg) {
    (void)arg;
    finish_early();
    return NULL; /* not reached */
}
static void *thread_e(void *arg) {
    (void)arg;
    for (long i = 0; i < 2000000; i++) __atomic_fetch_add(&spins, 1, __ATOMIC_RELAXED);
    return (void *)(intptr_t)7;
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = on_usr2;
    sigaction(SIGUSR2, &sa, NULL);

    pthread_create(&target_a, NULL, thread_a, NULL);
    poll(NULL, 0, 30);
    pthread_kill(target_a, SIGUSR1);
    void *r;
    pthread_join(target_a, &r);
    printf("pthread_kill: handler ran in the target %d time(s)\n", (int)got_a);
    memset(&target_a, 0, sizeof target_a); /* a new thread may reuse the joined one's id */

    pthread_create(&target_b, NULL, thread_b, NULL);
    while (!__atomic_load_n(&b_ready, __ATOMIC_SEQ_CST)) poll(NULL, 0, 5);
    pthread_kill(target_b, SIGUSR1);
    __atomic_store_n(&b_sent, 1, __ATOMIC_SEQ_CST);
    pthread_join(target_b, &r);
    printf("blocked thread: handler runs %d before unblocking, %d after\n", (int)(intptr_t)r / 10, (int)(intptr_t)r % 10);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* main blocks SIGUSR2; thread C does not */
    pthread_create(&target_c, NULL, thread_c, NULL);
    while (!__atomic_load_n(&c_ready, __ATOMIC_SEQ_CST)) poll(NULL, 0, 5);
    kill(getpid(), SIGUSR2);
    pthread_join(target_c, NULL);
    printf("kill(getpid()): taken by the thread that does not block it %d time(s)\n", (int)got_c);

    pthread_t d, e;
    pthread_create(&e, NULL, thread_e, NULL);
    pthread_create(&d, NULL, thread_d, NULL);
    void *rd, *re;
    pthread_join(d, &rd);
    pthread_join(e, &re);
    printf("pthread_exit value %ld, the other thread returned %ld after %ld steps\n", (long)(intptr_t)rd,
           (long)(intptr_t)re, spins);
    printf("handlers in a wrong thread: %d\n", (int)wrong_thread);
    return 0;
}
