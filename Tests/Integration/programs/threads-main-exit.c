/* The main thread calls pthread_exit while other threads still work: the process lives on
 * until the last thread ends, and exits with status 0. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static pthread_t t[3];

static void *worker(void *arg) {
    long id = (long)arg;
    usleep(50000);
    if (id > 0) pthread_join(t[id - 1], NULL); /* report in order */
    long sum = 0;
    for (long i = 0; i < 300000; i++) sum += i % (id + 2);
    printf("worker %ld done: %ld\n", id, sum);
    fflush(stdout);
    return NULL;
}

int main(void) {
    for (long i = 0; i < 3; i++) pthread_create(&t[i], NULL, worker, (void *)i);
    printf("main thread leaves\n");
    fflush(stdout);
    pthread_exit(NULL);
}
