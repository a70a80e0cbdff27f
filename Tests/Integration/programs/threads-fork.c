/* fork in a threaded process: from a second thread (the child is that thread alone and its
 * exit status is the child's) and from the main thread while another thread runs. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int stop_spinning;

static void *spinner(void *arg) {
    (void)arg;
    while (!stop_spinning) usleep(1000);
    return NULL;
}

static void *forker(void *arg) {
    (void)arg;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        printf("child of a second thread\n");
        fflush(stdout);
        exit(5);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return (void *)(long)(WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status));
}

int main(void) {
    pthread_t s, f;
    pthread_create(&s, NULL, spinner, NULL);
    pthread_create(&f, NULL, forker, NULL);
    void *r;
    pthread_join(f, &r);
    printf("child of the second thread exited with %ld\n", (long)r);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        printf("child of the main thread\n");
        return 6;
    }
    int status = 0;
    waitpid(pid, &status, 0);
    printf("child of the main thread exited with %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    stop_spinning = 1;
    pthread_join(s, NULL);
    return 0;
}
