/* The x87/SSE state in the signal frame (uc_mcontext.fpregs, FXSAVE layout): a handler that
 * clobbers XMM registers, the x87 stack, the rounding modes and MXCSR leaves the interrupted
 * code's values intact; a handler that edits the saved XMM0, ST0 or MXCSR changes them for the
 * interrupted code; a saved MXCSR with a reserved bit set makes the return fail with SIGSEGV. */
#include <fenv.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

static volatile int mode;
static volatile double sink;

static void handler(int sig, siginfo_t *info, void *context) {
    (void)sig; (void)info;
    ucontext_t *uc = context;
    struct _libc_fpstate *fp = uc->uc_mcontext.fpregs;
    /* Clobber: SSE registers, x87 stack and control word, MXCSR rounding. */
    fesetround(FE_UPWARD);
    volatile long double l = 1.0L;
    for (int i = 0; i < 8; i++) l = l * 3.0L + 0.1L;
    volatile double d = 1.5;
    for (int i = 0; i < 8; i++) d = d * 1.25 + 0.3;
    sink = (double)l + d;
    __asm__ volatile("pcmpeqd %%xmm0, %%xmm0\n pcmpeqd %%xmm1, %%xmm1\n pxor %%xmm15, %%xmm15\n"
                     "fninit\n fldpi\n fldpi\n fldpi" ::: "xmm0", "xmm1", "xmm15", "st", "st(1)", "st(2)");
    __asm__ volatile("fninit" ::: "st", "st(1)", "st(2)");
    printf("handler: fpregs %s, 16-byte aligned %d, mxcsr (no flags) %#x, cwd %#x\n", fp ? "set" : "NULL",
           (int)((uintptr_t)fp % 16 == 0), fp ? fp->mxcsr & ~0x3Fu : 0, fp ? fp->cwd : 0);
    if (mode == 1) { /* edit the saved XMM0 to 2.5 and ST0 to 7.0 */
        double v = 2.5;
        memcpy(&fp->_xmm[0], &v, 8);
        long double x = 7.0L;
        memcpy(&fp->_st[0], &x, 10);
    } else if (mode == 2) { /* saved MXCSR: round toward zero (RC = 11) */
        fp->mxcsr |= 0x6000;
    } else if (mode == 3) { /* a reserved MXCSR bit: the return must fail */
        fp->mxcsr |= 1u << 20;
    }
}

/* XMM0 = x, ST0 = y, then kill(getpid(), SIGUSR1) from inside the same asm block, so the
 * handler interrupts exactly here; returns XMM0, XMM7 and ST0 as they are after it. */
static void probe(double x, long double y, double *xmm0_out, double *xmm7_out, long double *st0_out) {
    double seven = 77.0;
    __asm__ volatile(
        "movsd %[x], %%xmm0\n"
        "movsd %[seven], %%xmm7\n"
        "fldt %[y]\n"
        "mov $39, %%eax\n syscall\n"
        "mov %%eax, %%edi\n mov $10, %%esi\n mov $62, %%eax\n syscall\n"
        "movsd %%xmm0, %[o0]\n"
        "movsd %%xmm7, %[o7]\n"
        "fstpt %[st]\n"
        : [o0] "=m"(*xmm0_out), [o7] "=m"(*xmm7_out), [st] "=m"(*st0_out)
        : [x] "m"(x), [y] "m"(y), [seven] "m"(seven)
        : "rax", "rcx", "rdx", "rsi", "rdi", "r11", "xmm0", "xmm7", "memory");
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    setvbuf(stdout, NULL, _IONBF, 0);

    for (mode = 0; mode < 3; mode++) {
        fesetround(FE_DOWNWARD);
        double x0 = 0, x7 = 0;
        long double st = 0;
        probe(1.25, 3.5L, &x0, &x7, &st);
        unsigned mxcsr;
        __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
        /* The exception flags (bits 0-5) are left out: sticky flags are not modelled yet. */
        printf("mode %d: xmm0 %.3f xmm7 %.1f st0 %.3Lf mxcsr %#x x87 round %d\n", mode, x0, x7, st,
               mxcsr & ~0x3Fu, fegetround());
        fesetround(FE_TONEAREST);
    }

    /* A reserved MXCSR bit in the frame: rt_sigreturn fails and the process dies of SIGSEGV. */
    pid_t child = fork();
    if (child == 0) {
        mode = 3;
        double a, b;
        long double c;
        probe(1.0, 1.0L, &a, &b, &c);
        printf("child: returned (wrong)\n");
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    printf("child: signaled %d signal %d\n", WIFSIGNALED(status), WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return 0;
}
