/* Integer arithmetic, flags through comparisons, division, 128-bit products, bit operations. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t state = 88172645463325252ull;
static uint64_t next(void) { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return state; }

int main(void) {
    uint64_t sum = 0, x = 0;
    for (int i = 0; i < 20000; i++) {
        uint64_t a = next(), b = next() | 1;
        int64_t sa = (int64_t)a, sb = (int64_t)b;
        unsigned __int128 p = (unsigned __int128)a * b;
        __int128 sp = (__int128)sa * sb;
        sum += a / b + a % b + (uint64_t)(sa / sb) + (uint64_t)(sa % sb);
        sum ^= (uint64_t)(p >> 64) + (uint64_t)(sp >> 64);
        sum += (uint32_t)a / ((uint32_t)b | 1) + (uint16_t)a * (int8_t)b;
        sum += __builtin_popcountll(a) + __builtin_ctzll(b) + __builtin_clzll(b) + __builtin_bswap64(a);
        sum += (a << (b & 63)) ^ (a >> (b & 31)) ^ (uint64_t)(sa >> (b & 63));
        sum += (sa < sb) + (a < b) * 2 + (sa == sb) * 4 + ((int32_t)a > (int32_t)b) * 8;
        x = (x << 7 | x >> 57) ^ a;
        sum += (a > b ? a - b : b - a);
    }
    printf("sum=%llu x=%llx\n", (unsigned long long)sum, (unsigned long long)x);
    printf("%d %ld %lld %u %lx %o %c %5.3s|%-6d|%+d\n", -42, -1234567890123L, 9223372036854775807LL, 4000000000u,
           0xdeadbeefUL, 511, 'Z', "abcdef", 17, 5);
    return (int)(sum & 0x7F);
}
