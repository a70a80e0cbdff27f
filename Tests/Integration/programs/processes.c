/* fork, execve of a static program, pipes, dup2 and wait4 under the emulator. */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "child") == 0) {
        printf("child argv: %s %s\n", argv[1], argc > 2 ? argv[2] : "-");
        return 7;
    }
    int fds[2];
    if (pipe(fds) != 0) { perror("pipe"); return 1; }
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 1);
        execl("/proc/self/exe", "processes", "child", "hello", (char *)NULL);
        _exit(99);
    }
    close(fds[1]);
    char buf[256];
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    int status = 0;
    waitpid(pid, &status, 0);
    printf("parent read: %s", buf);
    printf("child exited: %d status %d\n", WIFEXITED(status), WEXITSTATUS(status));
    pid_t second = fork();
    if (second == 0) _exit(3);
    waitpid(second, &status, 0);
    printf("second child: %d\n", WEXITSTATUS(status));
    return 0;
}
