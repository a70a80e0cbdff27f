/* signalfd: a blocked SIGUSR1 raised before is read from the descriptor. emu-user does not
 * implement signalfd4: the test script expects ENOSYS from it there and this output natively. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

int main(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    raise(SIGUSR1);
    int fd = signalfd(-1, &set, SFD_CLOEXEC);
    if (fd < 0) {
        printf("signalfd: %s\n", errno == ENOSYS ? "ENOSYS" : strerror(errno));
        return 0;
    }
    struct signalfd_siginfo si;
    ssize_t n = read(fd, &si, sizeof si);
    sigset_t pending;
    sigpending(&pending);
    printf("signalfd: read %zd bytes, signal %u, still pending %d\n", n, si.ssi_signo, sigismember(&pending, SIGUSR1));
    return 0;
}
