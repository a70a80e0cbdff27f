/* MMX: <mmintrin.h>/<xmmintrin.h> intrinsics on __m64 plus inline assembly that names the MM
 * registers (GCC may carry __m64 intrinsics out in SSE registers on x86-64, so the assembly
 * makes sure real MMX instructions run), conversions between MM and XMM registers, EMMS before
 * x87 code, and the x87 view of the
 * registers after MMX code without EMMS (FNSTENV: TOP and tags; FSTP of an aliased value). */
#include <mmintrin.h>
#include <xmmintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static uint64_t bits(__m64 v) { uint64_t r; memcpy(&r, &v, 8); return r; }

static uint64_t lcg(uint64_t *s) { *s = *s * 6364136223846793005ULL + 1442695040888963407ULL; return *s; }

int main(void) {
    uint64_t seed = 12345, sum = 0;
    for (int i = 0; i < 200; i++) {
        __m64 a = _mm_cvtsi64_m64((long long)lcg(&seed)), b = _mm_cvtsi64_m64((long long)lcg(&seed));
        __m64 r[] = {
            _mm_add_pi8(a, b), _mm_adds_pi16(a, b), _mm_subs_pu8(a, b), _mm_sub_pi32(a, b),
            _mm_mullo_pi16(a, b), _mm_mulhi_pi16(a, b), _mm_madd_pi16(a, b), _mm_packs_pi16(a, b),
            _mm_packs_pi32(a, b), _mm_packs_pu16(a, b), _mm_unpackhi_pi8(a, b), _mm_unpacklo_pi16(a, b),
            _mm_cmpgt_pi8(a, b), _mm_cmpeq_pi16(a, b), _mm_srai_pi16(a, i & 15), _mm_sll_pi32(a, _mm_cvtsi32_si64(i & 31)),
            _mm_srli_si64(a, i & 63), _mm_andnot_si64(a, b), _mm_xor_si64(a, b), _mm_avg_pu8(a, b),
            _mm_max_pi16(a, b), _mm_min_pu8(a, b), _mm_sad_pu8(a, b), _mm_shuffle_pi16(a, 0x1B),
            _mm_mulhi_pu16(a, b), _mm_insert_pi16(a, i, 2),
        };
        for (unsigned k = 0; k < sizeof r / sizeof r[0]; k++) sum = sum * 31 + bits(r[k]);
        sum = sum * 31 + (unsigned)_mm_movemask_pi8(a) + (unsigned)_mm_extract_pi16(b, 3);
    }
    _mm_empty();
    printf("intrinsics %016llx\n", (unsigned long long)sum);

    /* The same kind of work on the MM registers themselves. */
    uint64_t in[4] = {0x0123456789abcdefULL, 0xfedcba9876543210ULL, 0x80007fff00ff1234ULL, 0x1111222233334444ULL};
    uint64_t out[4];
    __asm__ volatile(
        "movq (%1), %%mm0\n\t" "movq 8(%1), %%mm1\n\t" "movq 16(%1), %%mm2\n\t" "movq 24(%1), %%mm3\n\t"
        "paddsw %%mm1, %%mm0\n\t" "pmaddwd %%mm2, %%mm1\n\t" "psubusb %%mm3, %%mm2\n\t" "pxor %%mm0, %%mm3\n\t"
        "punpckhbw %%mm1, %%mm0\n\t" "packsswb %%mm3, %%mm2\n\t" "psllq $7, %%mm1\n\t" "pshufb %%mm3, %%mm1\n\t"
        "movq %%mm0, (%0)\n\t" "movq %%mm1, 8(%0)\n\t" "movq %%mm2, 16(%0)\n\t" "movq %%mm3, 24(%0)\n\t"
        "emms"
        : : "r"(out), "r"(in) : "memory", "mm0", "mm1", "mm2", "mm3");
    for (int k = 0; k < 4; k++) printf("mm%d %016llx\n", k, (unsigned long long)out[k]);

    /* Conversions between MM and XMM registers: CVTPI2PS, CVTPS2PI, CVTTPD2PI. */
    float f[4] = {1.5f, -2.5f, 1e10f, 7.25f};
    double dd[2] = {-3.75, 2147483647.5};
    int32_t cv[6];
    __asm__ volatile(
        "movups (%1), %%xmm0\n\t" "cvtps2pi %%xmm0, %%mm0\n\t" "cvttps2pi %%xmm0, %%mm1\n\t"
        "movupd (%2), %%xmm1\n\t" "cvttpd2pi %%xmm1, %%mm2\n\t"
        "movq %%mm0, (%0)\n\t" "movq %%mm1, 8(%0)\n\t" "movq %%mm2, 16(%0)\n\t"
        "cvtpi2ps %%mm2, %%xmm0\n\t" "movups %%xmm0, (%1)\n\t" "emms"
        : : "r"(cv), "r"(f), "r"(dd) : "memory", "mm0", "mm1", "mm2", "xmm0", "xmm1");
    printf("cvt %d %d %d %d %d %d / %g %g %g %g\n", cv[0], cv[1], cv[2], cv[3], cv[4], cv[5], f[0], f[1], f[2], f[3]);

    /* x87 after EMMS works as usual. */
    volatile long double x = 1.0L;
    for (int k = 0; k < 10; k++) x = x * 3.0L / 2.0L;
    printf("x87 after emms %.10Lf\n", x);

    /* Without EMMS: MOVD sets TOP to 0 and every register valid; the x87 sees MM5 as
     * physical register 5 with sign and exponent all ones. */
    uint16_t env[14];
    double aliased;
    __asm__ volatile(
        "movd %2, %%mm5\n\t" "fnstenv (%0)\n\t" "ffree %%st(7)\n\t" "fld %%st(5)\n\t" "fstpl (%1)\n\t" "emms"
        : : "r"(env), "r"(&aliased), "r"(0x12345678) : "memory", "mm5");
    uint64_t d;
    memcpy(&d, &aliased, 8);
    int empty = 0;
    for (int k = 0; k < 8; k++) empty |= ((env[4] >> (2 * k)) & 3) == 3 ? 1 << k : 0;
    printf("without emms: top %d empty %02x aliased %016llx\n", (env[2] >> 11) & 7, empty, (unsigned long long)d);
    return 0;
}
