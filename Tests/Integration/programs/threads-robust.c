/* A thread dies holding a robust mutex (and with waiters queued on another): the next locker
 * gets EOWNERDEAD, makes the mutex consistent and goes on; a waiter already blocked is woken. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static pthread_mutex_t robust, contended;
static volatile int holding;

static void *dies_holding(void *arg) {
    (void)arg;
    pthread_mutex_lock(&robust);
    pthread_mutex_lock(&contended);
    __atomic_store_n(&holding, 1, __ATOMIC_SEQ_CST);
    usleep(100000); /* the waiter blocks on `contended` meanwhile */
    return NULL; /* exits without unlocking either */
}

static void *waits(void *arg) {
    (void)arg;
    while (!__atomic_load_n(&holding, __ATOMIC_SEQ_CST)) usleep(1000);
    int r = pthread_mutex_lock(&contended);
    if (r == EOWNERDEAD) pthread_mutex_consistent(&contended);
    pthread_mutex_unlock(&contended);
    return (void *)(long)r;
}

int main(void) {
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&robust, &attr);
    pthread_mutex_init(&contended, &attr);
    pthread_t a, b;
    pthread_create(&a, NULL, dies_holding, NULL);
    pthread_create(&b, NULL, waits, NULL);
    pthread_join(a, NULL);
    void *waiter;
    pthread_join(b, &waiter);
    printf("blocked waiter: %s\n", (long)waiter == EOWNERDEAD ? "EOWNERDEAD" : "other");
    int r = pthread_mutex_lock(&robust);
    printf("next locker: %s\n", r == EOWNERDEAD ? "EOWNERDEAD" : r == 0 ? "0" : "other");
    if (r == EOWNERDEAD) pthread_mutex_consistent(&robust);
    pthread_mutex_unlock(&robust);
    printf("locked again after consistent: %d\n", pthread_mutex_lock(&robust));
    pthread_mutex_unlock(&robust);
    return 0;
}
