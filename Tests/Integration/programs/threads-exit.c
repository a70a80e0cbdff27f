/* exit() from one thread while the others are blocked in futex waits (a mutex, a condition
 * variable, a join): the whole process ends with that status at once. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t cond_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static pthread_t waiter_on_cond;

static void *blocks_on_mutex(void *arg) {
    (void)arg;
    pthread_mutex_lock(&held); /* main holds it forever */
    puts("not reached: mutex");
    return NULL;
}

static void *blocks_on_cond(void *arg) {
    (void)arg;
    pthread_mutex_lock(&cond_lock);
    for (;;) pthread_cond_wait(&never, &cond_lock);
    return NULL;
}

static void *blocks_on_join(void *arg) {
    (void)arg;
    pthread_join(waiter_on_cond, NULL);
    puts("not reached: join");
    return NULL;
}

static void *exits(void *arg) {
    (void)arg;
    usleep(100000); /* let the others block */
    printf("exiting from a thread with status 3\n");
    exit(3);
}

int main(void) {
    pthread_mutex_lock(&held);
    pthread_t a, c, d;
    pthread_create(&a, NULL, blocks_on_mutex, NULL);
    pthread_create(&waiter_on_cond, NULL, blocks_on_cond, NULL);
    pthread_create(&c, NULL, blocks_on_join, NULL);
    pthread_create(&d, NULL, exits, NULL);
    pthread_join(a, NULL); /* blocks until the process ends */
    puts("not reached: main");
    return 0;
}
