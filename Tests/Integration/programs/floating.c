/* SSE2 double and float arithmetic, conversions, libm, printf of doubles and long doubles (x87). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    double x = 3.14159, acc = 0;
    float f = 1.25f;
    long double ld = 1.0L;
    for (int i = 0; i < 200; i++) {
        x = x * 1.0001 + sqrt(x) / (i + 1);
        acc += sin(x) * cos(x / 3) + log(x + 1) - floor(x / 7) + fmod(x, 3.5);
        f = f * 1.01f + (float)i / 3.0f;
        ld = ld * 1.000001L + (long double)i / 7.0L;
        if (i % 40 == 0) printf("%d %.10f %.6e %g %.4f %.12Lf %ld %d\n", i, x, acc, f, (double)f, ld, lround(x * 1000), (int)(acc * 10));
    }
    printf("%a %.17g %.3Le %f %f\n", x, acc, ld, strtod("1.5e3", NULL), atof("-0.125"));
    printf("%d %d %d\n", x > acc, isnan(sqrt(-1.0)) != 0, isinf(1.0 / 0.0) != 0);
    return 0;
}
