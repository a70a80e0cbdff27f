/* Writes N pseudo-random bytes (xorshift64*, fixed seed) to stdout: the same bytes on every
   build. Host program, used by build.sh. Usage: gen-random N [SEED] */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    unsigned long n = strtoul(argv[1], NULL, 0);
    unsigned long long x = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x9E3779B97F4A7C15ULL;
    if (!x) x = 1;
    for (unsigned long i = 0; i < n; i++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        putchar((int)((x * 0x2545F4914F6CDD1DULL) >> 56));
    }
    return 0;
}
