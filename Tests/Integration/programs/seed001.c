/* Seed 001: a blocking read interrupted by a signal whose handler makes the read complete.
 * With SA_RESTART (no argument) the read is restarted and returns the handler's byte; with the
 * argument "eintr" it fails with EINTR after the handler ran. The test harness sends SIGUSR1
 * from outside once the program waits in read(). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int pipefd[2];
static volatile int handled;

static void usr1_handler(int s) {
    (void)s;
    char x = 'x';
    handled++;
    if (write(pipefd[1], &x, 1) != 1) _exit(3);
}

int main(int argc, char **argv) {
    int restart = !(argc > 1 && strcmp(argv[1], "eintr") == 0);
    struct sigaction sa;
    char x = 0;
    if (pipe(pipefd) != 0) { perror("pipe"); return 1; }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = usr1_handler;
    sa.sa_flags = restart ? SA_RESTART : 0;
    if (sigaction(SIGUSR1, &sa, 0) != 0) { perror("sigaction"); return 1; }
    printf("read()ing pipe...\n");
    fflush(stdout);
    ssize_t r = read(pipefd[0], &x, 1);
    int e = errno;
    printf("read returned %zd (%s), byte '%c', handler ran %d time(s)\n", r, r < 0 ? strerror(e) : "ok", r == 1 ? x : '-', handled);
    if (!restart) {
        r = read(pipefd[0], &x, 1);
        printf("second read returned %zd, byte '%c'\n", r, r == 1 ? x : '-');
    }
    return 0;
}
