/* A synchronous fault in one thread while the others wait (in a join and a condition
 * variable): the faulting thread's unhandled SIGSEGV ends the whole process by that signal. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;

static void *waits(void *arg) {
    (void)arg;
    pthread_mutex_lock(&lock);
    for (;;) pthread_cond_wait(&never, &lock);
    return NULL;
}

static void *faults(void *arg) {
    volatile int *nowhere = arg;
    usleep(50000);
    printf("faulting now\n");
    fflush(stdout);
    return (void *)(long)*nowhere;
}

int main(void) {
    pthread_t w, f;
    pthread_create(&w, NULL, waits, NULL);
    pthread_create(&f, NULL, faults, (void *)16);
    pthread_join(w, NULL);
    puts("not reached");
    return 0;
}
