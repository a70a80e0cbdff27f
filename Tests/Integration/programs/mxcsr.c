/* SSE floating point under every MXCSR rounding mode, FTZ and DAZ, with the sticky exception
 * flags read back after each operation, and an unmasked exception delivered as SIGFPE with its
 * si_code. Printed bit patterns make any difference in rounding visible. */
#define _GNU_SOURCE
#include <fenv.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static uint64_t bits(double d) { uint64_t b; memcpy(&b, &d, 8); return b; }
static uint32_t fbits(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }
static unsigned get_mxcsr(void) { unsigned m; __asm__ volatile("stmxcsr %0" : "=m"(m)); return m; }
static void set_mxcsr(unsigned m) { __asm__ volatile("ldmxcsr %0" :: "m"(m)); }

static sigjmp_buf jump;
static volatile int fpe_code;
static void on_fpe(int sig, siginfo_t *info, void *ctx) { (void)sig; (void)ctx; fpe_code = info->si_code; siglongjmp(jump, 1); }

int main(void) {
    static const int modes[] = {FE_TONEAREST, FE_DOWNWARD, FE_UPWARD, FE_TOWARDZERO};
    static const char *names[] = {"nearest", "down", "up", "zero"};
    volatile double one = 1.0, three = 3.0, two = 2.0, big = 1e308, tiny = 1e-308, ten = 10.0;
    volatile float fone = 1.0f, fthree = 3.0f;
    volatile double val = 2.5, neg = -2.5;
    for (int k = 0; k < 4; k++) {
        fesetround(modes[k]);
        set_mxcsr(get_mxcsr() & ~0x3Fu);
        double q = one / three, nq = -one / three, r = sqrt(two), s = one + 1e-17, p = big * ten, u = tiny / 1e10;
        float fq = fone / fthree;
        long l1 = lrint(val), l2 = lrint(neg);
        long t1 = (long)val, t2 = (long)neg;
        float narrowed = (float)q;
        int cvt = (int)nearbyint(neg);
        printf("%-7s 1/3 %016llx -1/3 %016llx sqrt2 %016llx 1+e-17 %016llx ovf %016llx unf %016llx f1/3 %08x\n", names[k],
               (unsigned long long)bits(q), (unsigned long long)bits(nq), (unsigned long long)bits(r),
               (unsigned long long)bits(s), (unsigned long long)bits(p), (unsigned long long)bits(u), fbits(fq));
        printf("        lrint %ld %ld trunc %ld %ld narrow %08x nearbyint %d flags %#x\n", l1, l2, t1, t2, fbits(narrowed), cvt,
               get_mxcsr() & 0x3F);
    }
    fesetround(FE_TONEAREST);
    /* Sticky flags one operation at a time. */
    struct { const char *name; double a, b; char op; } cases[] = {
        {"1/0", 1, 0, '/'}, {"0/0", 0, 0, '/'}, {"inf-inf", INFINITY, INFINITY, '-'}, {"max*2", 1.7e308, 2, '*'},
        {"min/3", 2.2250738585072014e-308, 3, '/'}, {"1/3", 1, 3, '/'}, {"1+1", 1, 1, '+'}, {"denorm+0", 4e-320, 0, '+'},
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        set_mxcsr(0x1F80);
        volatile double a = cases[i].a, b = cases[i].b, r;
        switch (cases[i].op) {
        case '/': r = a / b; break;
        case '-': r = a - b; break;
        case '*': r = a * b; break;
        default: r = a + b; break;
        }
        printf("%-8s = %016llx flags %#04x\n", cases[i].name, (unsigned long long)bits(r), get_mxcsr() & 0x3F);
    }
    /* FTZ and DAZ. */
    volatile double d1 = 2.2250738585072014e-308, d3 = 3.0, den = 4e-320;
    set_mxcsr(0x1F80 | 0x8000);
    volatile double ftz = d1 / d3;
    unsigned f1 = get_mxcsr() & 0x3F;
    set_mxcsr(0x1F80 | 0x40);
    volatile double daz = den * d3;
    unsigned f2 = get_mxcsr() & 0x3F;
    set_mxcsr(0x1F80);
    printf("ftz %016llx flags %#x daz %016llx flags %#x\n", (unsigned long long)bits(ftz), f1, (unsigned long long)bits(daz), f2);
    /* An unmasked divide-by-zero: SIGFPE with FPE_FLTDIV at the DIVSD. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fpe;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGFPE, &sa, NULL);
    volatile double zero = 0;
    if (sigsetjmp(jump, 1) == 0) {
        feenableexcept(FE_DIVBYZERO);
        volatile double x = one / zero;
        printf("no SIGFPE (%g)\n", x);
    }
    fedisableexcept(FE_ALL_EXCEPT);
    printf("SIGFPE si_code %d\n", fpe_code);
    if (sigsetjmp(jump, 1) == 0) {
        feenableexcept(FE_INVALID);
        volatile double x = zero / zero;
        printf("no SIGFPE (%g)\n", x);
    }
    fedisableexcept(FE_ALL_EXCEPT);
    printf("SIGFPE si_code %d\n", fpe_code);
    return 0;
}
