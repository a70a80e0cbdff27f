/* sigaltstack and SA_ONSTACK: argument checks and queries, a handler that runs on the
 * alternate stack (a local's address lies inside it, uc_stack describes it), EPERM while on
 * it, SS_AUTODISARM (disarmed in the handler, restored by sigreturn), two threads with stacks
 * of their own (a new thread starts with none, a fork child keeps it), and a stack overflow by infinite recursion
 * caught by a SIGSEGV handler on the alternate stack, which prints and _exit(0)s. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31)
#endif

static _Thread_local char *alt_base;
static _Thread_local size_t alt_size;
static _Thread_local volatile int on_alt, uc_matches, eperm_inside, disarmed_inside;
static _Thread_local volatile unsigned uc_flags;

static void query(const char *label) {
    stack_t q;
    if (sigaltstack(NULL, &q) != 0) { printf("%s: query failed errno %d\n", label, errno); return; }
    printf("%s: sp %s size %zu flags 0x%x\n", label,
           q.ss_sp == NULL ? "NULL" : q.ss_sp == alt_base ? "alt" : "other", q.ss_size, (unsigned)q.ss_flags);
}

static void on_usr1(int sig, siginfo_t *info, void *context) {
    (void)sig; (void)info;
    ucontext_t *uc = context;
    volatile char local = 0;
    on_alt = (char *)&local >= alt_base && (char *)&local < alt_base + alt_size;
    uc_matches = uc->uc_stack.ss_sp == alt_base && uc->uc_stack.ss_size == alt_size;
    uc_flags = (unsigned)uc->uc_stack.ss_flags;
    stack_t q, n = { .ss_sp = alt_base, .ss_size = alt_size, .ss_flags = 0 };
    sigaltstack(NULL, &q);
    disarmed_inside = (q.ss_flags & SS_DISABLE) != 0;
    /* Changing it while running on it fails (a disarmed one is not "on"; leave it alone). */
    if (!disarmed_inside) eperm_inside = sigaltstack(&n, NULL) == -1 && errno == EPERM;
}

static void install(int sig, void (*handler)(int, siginfo_t *, void *), int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | flags;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

static void set_alt(size_t size, int flags) {
    alt_size = size;
    alt_base = malloc(size);
    stack_t s = { .ss_sp = alt_base, .ss_size = size, .ss_flags = flags };
    if (sigaltstack(&s, NULL) != 0) printf("sigaltstack failed errno %d\n", errno);
}

static void run_handler(const char *label) {
    on_alt = uc_matches = eperm_inside = disarmed_inside = 0;
    uc_flags = 0xdead;
    raise(SIGUSR1);
    printf("%s: on alt %d, uc_stack matches %d, uc_flags 0x%x, EPERM inside %d, disarmed inside %d\n",
           label, on_alt, uc_matches, uc_flags, eperm_inside, disarmed_inside);
}

static void *thread_main(void *arg) {
    const char *name = arg;
    char label[64];
    snprintf(label, sizeof label, "%s initial", name);
    query(label); /* a new thread starts with no alternate stack */
    set_alt(64 * 1024, 0);
    snprintf(label, sizeof label, "%s set", name);
    query(label);
    snprintf(label, sizeof label, "%s handler", name);
    run_handler(label);
    return NULL;
}

static volatile int depth;

static int recurse(int n) {
    volatile char pad[256];
    pad[0] = (char)n;
    depth++;
    return recurse(n + 1) + pad[0];
}

static void on_segv(int sig, siginfo_t *info, void *context) {
    (void)info; (void)context;
    volatile char local = 0;
    int inside = (char *)&local >= alt_base && (char *)&local < alt_base + alt_size;
    char line[96];
    int len = snprintf(line, sizeof line, "caught signal %d after deep recursion (%d), on alt stack %d\n",
                       sig, depth > 1000, inside);
    write(1, line, (size_t)len);
    _exit(0);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    query("initial");
    /* Argument checks. */
    stack_t s = { .ss_sp = malloc(8192), .ss_size = 8192, .ss_flags = 0x40 };
    int r = sigaltstack(&s, NULL);
    printf("bad flags: %d errno %d\n", r, errno);
    s.ss_flags = 0; s.ss_size = 1000;
    r = sigaltstack(&s, NULL);
    printf("small: %d errno %d\n", r, errno);
    r = sigaltstack((stack_t *)8, NULL);
    printf("bad pointer: %d errno %d\n", r, errno);
    r = sigaltstack(NULL, (stack_t *)8);
    printf("bad old pointer: %d errno %d\n", r, errno);
    s.ss_flags = SS_DISABLE; s.ss_size = 1;
    r = sigaltstack(&s, NULL);
    printf("disable with any size: %d\n", r);
    s.ss_flags = 0; s.ss_size = 2048;
    r = sigaltstack(&s, NULL);
    printf("MINSIGSTKSZ exactly: %d\n", r);
    query("minimum");
    s.ss_flags = SS_DISABLE;
    sigaltstack(&s, NULL);
    query("after disable");

    install(SIGUSR1, on_usr1, SA_ONSTACK);
    alt_base = NULL; alt_size = 0;
    run_handler("no alt stack");
    set_alt(64 * 1024, 0);
    query("set");
    run_handler("alt stack");
    query("after handler");

    /* Without SA_ONSTACK the handler stays on the normal stack. */
    install(SIGUSR1, on_usr1, 0);
    run_handler("no SA_ONSTACK");

    install(SIGUSR1, on_usr1, SA_ONSTACK);
    set_alt(64 * 1024, SS_AUTODISARM);
    query("autodisarm");
    run_handler("autodisarm handler");
    query("after autodisarm");

    /* A fork child keeps the forking thread's alternate stack. */
    pid_t child = fork();
    if (child == 0) { query("fork child"); _exit(0); }
    int status = -1;
    waitpid(child, &status, 0);
    printf("fork child status %d\n", status);

    /* Two threads, each with its own alternate stack. */
    pthread_t a, b;
    pthread_create(&a, NULL, thread_main, "thread A");
    pthread_join(a, NULL);
    pthread_create(&b, NULL, thread_main, "thread B");
    pthread_join(b, NULL);
    query("main after threads");

    /* Stack overflow: only a handler on the alternate stack can run. An unlimited stack
     * limit (natively) would let the recursion eat memory: bound it as emu-user's is. */
    struct rlimit limit;
    if (getrlimit(RLIMIT_STACK, &limit) == 0 && (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur > (8u << 20))) {
        limit.rlim_cur = 8u << 20;
        setrlimit(RLIMIT_STACK, &limit);
    }
    set_alt(64 * 1024, 0);
    install(SIGSEGV, on_segv, SA_ONSTACK);
    return recurse(0);
}
