/* Many mmap/munmap/mprotect/mremap cycles, contents checked after each step; then the same
 * churn from two threads at once (mapping changes are serialised, data stays each thread's).
 * With two threads, a hole is never left open between munmap and a MAP_FIXED refill: the other
 * thread's mmap may be given that page, and the refill would then clobber its mapping (a bug of
 * the program, seen as a native segfault). They replace the page with MAP_FIXED in one step. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

static unsigned long checksum(const unsigned char *p, size_t n) {
    unsigned long h = 1469598103934665603ul;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ul;
    return h;
}

/* Returns the number of failed checks. */
static long churn(unsigned seed, int rounds, int alone, unsigned long *digest) {
    long failures = 0;
    unsigned long h = 0;
    for (int r = 0; r < rounds; r++) {
        size_t pages = 1 + (seed + r * 7) % 8, size = pages * 4096;
        unsigned char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) { failures++; continue; }
        for (size_t i = 0; i < size; i++) if (p[i] != 0) { failures++; break; } /* fresh pages are zero */
        for (size_t i = 0; i < size; i++) p[i] = (unsigned char)(i * 31 + r + seed);
        unsigned long before = checksum(p, size);
        if (mprotect(p, size, PROT_READ) != 0) failures++;
        if (checksum(p, size) != before) failures++;
        if (mprotect(p, size, PROT_READ | PROT_WRITE) != 0) failures++;
        size_t bigger = size + 4096 * (1 + r % 5);
        unsigned char *q = mremap(p, size, bigger, MREMAP_MAYMOVE);
        if (q == MAP_FAILED) { failures++; munmap(p, size); continue; }
        if (checksum(q, size) != before) failures++; /* contents survive a move */
        for (size_t i = size; i < bigger; i++) if (q[i] != 0) { failures++; break; }
        q[bigger - 1] = 0x5A;
        unsigned char *s = mremap(q, bigger, size / 2 > 4096 ? size / 2 & ~4095ul : 4096, 0); /* shrink in place */
        if (s != q) failures++;
        h = h * 31 + checksum(s, 4096);
        if (munmap(s, size / 2 > 4096 ? size / 2 & ~4095ul : 4096) != 0) failures++;
        if (pages > 2) { /* a page in the middle of a mapping replaced (alone: unmapped first) */
            unsigned char *m = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            memset(m, 0x11, 3 * 4096);
            if (alone) munmap(m + 4096, 4096);
            unsigned char *again = mmap(m + 4096, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
            if (again != m + 4096 || again[0] != 0 || m[0] != 0x11 || m[2 * 4096] != 0x11) failures++;
            munmap(m, 3 * 4096);
        }
    }
    *digest = h;
    return failures;
}

struct job { unsigned seed; long failures; unsigned long digest; };
static void *worker(void *arg) {
    struct job *j = arg;
    j->failures = churn(j->seed, 100, 0, &j->digest);
    return NULL;
}

int main(void) {
    unsigned long digest;
    long failures = churn(1, 150, 1, &digest);
    printf("single thread: %ld failures, digest %lx\n", failures, digest);
    struct job jobs[2] = {{2, 0, 0}, {3, 0, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, worker, &jobs[i]);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++) printf("thread %d: %ld failures, digest %lx\n", i, jobs[i].failures, jobs[i].digest);
    return failures + jobs[0].failures + jobs[1].failures == 0 ? 0 : 1;
}
