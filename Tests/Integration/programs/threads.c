/* Threads: create/join with results, a mutex-protected counter, an atomic counter, a condition
 * variable producer/consumer queue, and thread-local storage. Output is deterministic. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 4
#define INCREMENTS 100000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long locked_counter;
static long atomic_counter;
static __thread long tls_value = 7;
static __thread char tls_name[16];

static void *square(void *arg) {
    long n = (long)(intptr_t)arg;
    return (void *)(intptr_t)(n * n);
}

static void *count_locked(void *arg) {
    (void)arg;
    for (int i = 0; i < INCREMENTS; i++) {
        pthread_mutex_lock(&lock);
        locked_counter++;
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

static void *count_atomic(void *arg) {
    (void)arg;
    for (int i = 0; i < INCREMENTS; i++) __atomic_fetch_add(&atomic_counter, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void *tls_worker(void *arg) {
    long id = (long)(intptr_t)arg;
    tls_value += id * 100; /* each thread starts from the initial 7 */
    snprintf(tls_name, sizeof tls_name, "thread-%ld", id);
    for (int i = 0; i < 1000; i++) tls_value++;
    char *result = malloc(64);
    snprintf(result, 64, "%s tls=%ld", tls_name, tls_value);
    return result;
}

/* A bounded queue: producers and consumers block on condition variables. */
#define QUEUE 8
#define ITEMS 20000
static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER, not_full = PTHREAD_COND_INITIALIZER;
static long queue[QUEUE];
static int head, tail, count;

static void *producer(void *arg) {
    long base = (long)(intptr_t)arg;
    for (long i = 1; i <= ITEMS; i++) {
        pthread_mutex_lock(&qlock);
        while (count == QUEUE) pthread_cond_wait(&not_full, &qlock);
        queue[tail] = base + i;
        tail = (tail + 1) % QUEUE;
        count++;
        pthread_cond_signal(&not_empty);
        pthread_mutex_unlock(&qlock);
    }
    return NULL;
}

static void *consumer(void *arg) {
    (void)arg;
    long sum = 0;
    for (long i = 0; i < ITEMS; i++) {
        pthread_mutex_lock(&qlock);
        while (count == 0) pthread_cond_wait(&not_empty, &qlock);
        sum += queue[head];
        head = (head + 1) % QUEUE;
        count--;
        pthread_cond_signal(&not_full);
        pthread_mutex_unlock(&qlock);
    }
    return (void *)(intptr_t)sum;
}

int main(void) {
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, square, (void *)(intptr_t)(i + 3));
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        printf("square %d -> %ld\n", i + 3, (long)(intptr_t)r);
    }

    for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, count_locked, NULL);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    printf("mutex counter %ld (expected %d)\n", locked_counter, THREADS * INCREMENTS);

    for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, count_atomic, NULL);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    printf("atomic counter %ld (expected %d)\n", atomic_counter, THREADS * INCREMENTS);

    for (long i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, tls_worker, (void *)(intptr_t)(i + 1));
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        printf("%s\n", (char *)r);
        free(r);
    }
    printf("main tls=%ld\n", tls_value);

    pthread_t p[2], c[2];
    for (long i = 0; i < 2; i++) pthread_create(&p[i], NULL, producer, (void *)(intptr_t)(i * 1000000));
    for (int i = 0; i < 2; i++) pthread_create(&c[i], NULL, consumer, NULL);
    long total = 0;
    for (int i = 0; i < 2; i++) {
        void *r;
        pthread_join(c[i], &r);
        total += (long)(intptr_t)r;
    }
    for (int i = 0; i < 2; i++) pthread_join(p[i], NULL);
    long expected = 2L * ITEMS * (ITEMS + 1) / 2 + 1000000L * ITEMS;
    printf("queue total %ld (expected %ld)\n", total, expected);
    return locked_counter == THREADS * INCREMENTS && atomic_counter == THREADS * INCREMENTS && total == expected ? 0 : 1;
}
