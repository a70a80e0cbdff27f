/* Shared by the pending-signal programs: runs a test body once on the main thread of a
 * single-threaded process ("1 thread") and once on a worker while two more threads and the
 * main thread exist and block every signal ("threads"), so process-directed signals can only
 * go to the worker. Output goes through stdout, flushed before anything forks or executes. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef void (*signal_body)(const char *mode);

static int idle_pipe[2];

static inline void block_everything(void) {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
}

static void *idle_thread(void *arg) {
    (void)arg;
    block_everything();
    char c;
    while (read(idle_pipe[0], &c, 1) < 0) {}
    return NULL;
}

static void *body_thread(void *arg) {
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, NULL);
    ((signal_body)arg)("threads");
    return NULL;
}

/* Runs `body` on a worker while the main thread and two idle threads block every signal. */
static inline void run_threaded(signal_body body) {
    sigset_t all, saved;
    if (pipe(idle_pipe) != 0) { perror("pipe"); return; }
    pthread_t idle[2], worker;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &saved); /* inherited by every thread made below */
    for (int i = 0; i < 2; i++) pthread_create(&idle[i], NULL, idle_thread, NULL);
    pthread_create(&worker, NULL, body_thread, (void *)body);
    pthread_join(worker, NULL);
    if (write(idle_pipe[1], "xx", 2) != 2) perror("write");
    for (int i = 0; i < 2; i++) pthread_join(idle[i], NULL);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    close(idle_pipe[0]);
    close(idle_pipe[1]);
    fflush(stdout);
}

/* Runs `body` in both modes; every signal's action and the mask are reset between them. */
static inline void run_modes(signal_body body) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    body("1 thread");
    fflush(stdout);
    for (int s = 1; s < 65; s++) if (s != SIGKILL && s != SIGSTOP && (s < 32 || s > 33)) signal(s, SIG_DFL);
    sigprocmask(SIG_SETMASK, &none, NULL);
    run_threaded(body);
}

static inline int is_pending(int s) {
    sigset_t p;
    sigemptyset(&p);
    if (sigpending(&p) != 0) return -1;
    return sigismember(&p, s);
}

static inline void block(int s) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, s);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static inline void unblock(int s) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, s);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

static inline int is_blocked(int s) {
    sigset_t now;
    pthread_sigmask(SIG_BLOCK, NULL, &now);
    return sigismember(&now, s);
}
