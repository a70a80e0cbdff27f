/* Interval timers: ITIMER_REAL, ITIMER_VIRTUAL and ITIMER_PROF deliver SIGALRM, SIGVTALRM and
 * SIGPROF to the guest's handlers; getitimer reads the interval back; alarm returns the seconds
 * left; a long REP MOVSB copy interrupted by timer signals completes with the right bytes. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t counts[65];
static void handler(int sig) { counts[sig]++; }

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Spins (burning CPU time) until `sig` has been delivered `n` times or 20 s have passed. */
static int wait_for(int sig, int n) {
    double start = now();
    volatile uint64_t x = 1;
    while (counts[sig] < n && now() - start < 20) {
        for (int i = 0; i < 10000; i++) x = x * 6364136223846793005ull + 1;
    }
    return counts[sig] >= n;
}

static void arm(int which, long usec) {
    struct itimerval v = {{0, usec}, {0, usec}};
    setitimer(which, &v, NULL);
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    sigaction(SIGVTALRM, &sa, NULL);
    sigaction(SIGPROF, &sa, NULL);

    arm(ITIMER_REAL, 2000);
    int real = wait_for(SIGALRM, 3);
    struct itimerval got;
    getitimer(ITIMER_REAL, &got);
    printf("ITIMER_REAL: SIGALRM delivered %d, interval %ld us, value within it %d\n", real,
           (long)got.it_interval.tv_usec, got.it_value.tv_sec == 0 && got.it_value.tv_usec <= 2000);
    arm(ITIMER_REAL, 0);

    arm(ITIMER_VIRTUAL, 10000);
    printf("ITIMER_VIRTUAL: SIGVTALRM delivered %d\n", wait_for(SIGVTALRM, 2));
    arm(ITIMER_VIRTUAL, 0);

    arm(ITIMER_PROF, 10000);
    printf("ITIMER_PROF: SIGPROF delivered %d\n", wait_for(SIGPROF, 2));
    arm(ITIMER_PROF, 0);

    alarm(100);
    printf("alarm: %u seconds were left\n", alarm(0));

    /* REP MOVSB over 8 MiB, eight times, with a 1 ms timer running. */
    size_t n = 8 << 20;
    unsigned char *src = malloc(n), *dst = malloc(n);
    if (!src || !dst) return 1;
    for (size_t i = 0; i < n; i++) src[i] = (unsigned char)(i * 131 + (i >> 12));
    int before = counts[SIGALRM];
    arm(ITIMER_REAL, 1000);
    int good = 1;
    for (int round = 0; round < 8; round++) {
        memset(dst, 0, n);
        void *d = dst;
        const void *s = src;
        size_t c = n;
        __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(c) : : "memory");
        good &= c == 0 && d == dst + n && memcmp(dst, src, n) == 0;
    }
    arm(ITIMER_REAL, 0);
    printf("rep movsb under a 1 ms timer: copies right %d, timer signals meanwhile %d\n", good, counts[SIGALRM] > before);
    return 0;
}
