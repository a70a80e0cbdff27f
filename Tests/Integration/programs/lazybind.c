/* Lazy binding: the first call of each library function goes through the dynamic loader's
 * resolver with floating-point arguments live in XMM registers, which the resolver must save
 * and restore. `lazybind resolver` names the resolver the loader installed in GOT[2]: under
 * emu-user (no XSAVE advertised) it must be the FXSAVE one. Static builds print "none". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void *_GLOBAL_OFFSET_TABLE_[];

static const char *resolver_kind(void) {
    const unsigned char *code = _GLOBAL_OFFSET_TABLE_[2];
    if (code == NULL) return "none";
    for (int i = 0; i < 160; i++) {
        /* 0F AE /0 with a SIB to RSP: fxsave; 0F AE /4: xsave; 0F C7 /4: xsavec. */
        if (code[i] == 0x0F && code[i + 1] == 0xAE && (code[i + 2] & 0x38) == 0x00 && (code[i + 2] & 7) == 4) return "fxsave";
        if (code[i] == 0x0F && code[i + 1] == 0xAE && (code[i + 2] & 0x38) == 0x20 && (code[i + 2] & 7) == 4) return "xsave";
        if (code[i] == 0x0F && code[i + 1] == 0xC7 && (code[i + 2] & 0x38) == 0x20) return "xsavec";
    }
    return "unknown";
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "resolver") == 0) {
        printf("resolver: %s\n", resolver_kind());
        return 0;
    }
    volatile double x = 2.5, y = 1.75;
    double a = pow(x, y), b = atan2(y, x), c = hypot(x, y), d = fmod(x * 7.3, y), e = ldexp(x, 5);
    printf("%.12f %.12f %.12f %.12f %.12f\n", a, b, c, d, e);
    printf("%.9f %.9f %.9f\n", strtod("3.25e1", NULL), sqrt(x + y), exp(y) - log1p(x));
    return 0;
}
