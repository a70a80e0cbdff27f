#include "CEmuTCGTestSupport.h"

uint64_t emu_native_alu(int op, int size, uint64_t a, uint64_t b, uint64_t flags_in, uint64_t *flags_out) {
    uint64_t f = 0;
    if (size == 1) {
        uint8_t x = (uint8_t)a, y = (uint8_t)b;
        uint8_t c = (uint8_t)b;
        (void)y; (void)c;
        switch (op) {
        case EMU_NATIVE_ADD:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tadd %b[y], %b[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_OR:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tor %b[y], %b[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_ADC:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tadc %b[y], %b[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_SBB:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tsbb %b[y], %b[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_AND:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tand %b[y], %b[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_SUB:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tsub %b[y], %b[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_XOR:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\txor %b[y], %b[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_CMP:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tcmp %b[y], %b[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_SHL:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tshl %%cl, %b[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : "c"(c), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_SHR:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tshr %%cl, %b[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : "c"(c), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_SAR:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tsar %%cl, %b[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : "c"(c), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_ROL:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\trol %%cl, %b[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : "c"(c), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_ROR:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tror %%cl, %b[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : "c"(c), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_NEG:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tneg %b[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_INC:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tinc %b[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_DEC:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tdec %b[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_RCL:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\trcl %%cl, %b[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : "c"(c), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_RCR:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\trcr %%cl, %b[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : "c"(c), [fi] "r"(flags_in) : "cc");
            break;
        default: return 0;
        }
        *flags_out = f;
        return (uint64_t)x;
    }
    if (size == 2) {
        uint16_t x = (uint16_t)a, y = (uint16_t)b;
        uint8_t c = (uint8_t)b;
        (void)y; (void)c;
        switch (op) {
        case EMU_NATIVE_ADD:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tadd %w[y], %w[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_OR:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tor %w[y], %w[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_ADC:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tadc %w[y], %w[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_SBB:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tsbb %w[y], %w[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_AND:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tand %w[y], %w[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_SUB:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tsub %w[y], %w[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_XOR:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\txor %w[y], %w[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_CMP:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tcmp %w[y], %w[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_SHL:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tshl %%cl, %w[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : "c"(c), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_SHR:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tshr %%cl, %w[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : "c"(c), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_SAR:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tsar %%cl, %w[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : "c"(c), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_IMUL:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\timul %w[y], %w[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_ROL:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\trol %%cl, %w[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : "c"(c), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_ROR:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tror %%cl, %w[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : "c"(c), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_NEG:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tneg %w[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_INC:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tinc %w[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_DEC:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tdec %w[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_RCL:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\trcl %%cl, %w[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : "c"(c), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_RCR:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\trcr %%cl, %w[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : "c"(c), [fi] "r"(flags_in) : "cc");
            break;
        default: return 0;
        }
        *flags_out = f;
        return (uint64_t)x;
    }
    if (size == 4) {
        uint32_t x = (uint32_t)a, y = (uint32_t)b;
        uint8_t c = (uint8_t)b;
        (void)y; (void)c;
        switch (op) {
        case EMU_NATIVE_ADD:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tadd %k[y], %k[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_OR:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tor %k[y], %k[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_ADC:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tadc %k[y], %k[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_SBB:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tsbb %k[y], %k[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_AND:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tand %k[y], %k[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_SUB:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tsub %k[y], %k[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_XOR:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\txor %k[y], %k[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_CMP:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tcmp %k[y], %k[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_SHL:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tshl %%cl, %k[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : "c"(c), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_SHR:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tshr %%cl, %k[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : "c"(c), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_SAR:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tsar %%cl, %k[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : "c"(c), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_IMUL:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\timul %k[y], %k[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_ROL:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\trol %%cl, %k[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : "c"(c), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_ROR:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tror %%cl, %k[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : "c"(c), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_NEG:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tneg %k[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_INC:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tinc %k[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_DEC:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tdec %k[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_RCL:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\trcl %%cl, %k[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : "c"(c), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_RCR:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\trcr %%cl, %k[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : "c"(c), [fi] "r"(flags_in) : "cc");
            break;
        default: return 0;
        }
        *flags_out = f;
        return (uint64_t)x;
    }
    if (size == 8) {
        uint64_t x = (uint64_t)a, y = (uint64_t)b;
        uint8_t c = (uint8_t)b;
        (void)y; (void)c;
        switch (op) {
        case EMU_NATIVE_ADD:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tadd %q[y], %q[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_OR:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tor %q[y], %q[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_ADC:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tadc %q[y], %q[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_SBB:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tsbb %q[y], %q[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_AND:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tand %q[y], %q[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_SUB:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tsub %q[y], %q[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_XOR:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\txor %q[y], %q[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_CMP:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tcmp %q[y], %q[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_SHL:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tshl %%cl, %q[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : "c"(c), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_SHR:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tshr %%cl, %q[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : "c"(c), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_SAR:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tsar %%cl, %q[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : "c"(c), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_IMUL:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\timul %q[y], %q[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [y] "r"(y), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_ROL:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\trol %%cl, %q[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : "c"(c), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_ROR:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tror %%cl, %q[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : "c"(c), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_NEG:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tneg %q[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_INC:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tinc %q[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_DEC:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\tdec %q[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_RCL:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\trcl %%cl, %q[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : "c"(c), [fi] "r"(flags_in) : "cc");
            break;
        case EMU_NATIVE_RCR:
            __asm__ volatile("pushq %[fi]\n\tpopfq\n\trcr %%cl, %q[x]\n\tpushfq\n\tpopq %[fo]" : [x] "+r"(x), [fo] "=r"(f) : "c"(c), [fi] "r"(flags_in) : "cc");
            break;
        default: return 0;
        }
        *flags_out = f;
        return (uint64_t)x;
    }
    return 0;
}
