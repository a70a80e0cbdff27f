/* SSE floating point on the host CPU under the guest's MXCSR: the host is x86-64 (EmuTCG
 * already relies on it for Float80), so running the guest's operation on the host's own SSE unit
 * gives its exact result and exception flags for every rounding mode, DAZ and FTZ. Each
 * operation is one asm statement that saves the host MXCSR, loads the guest's (exceptions
 * masked, flags clear), runs the instruction, reads the flags and restores the host's, so the
 * compiler cannot move floating-point work across the switch. */
#include <stdint.h>
#include "CEmuSystem.h"

#define EMU_SSE_ASM(BODY) __asm__ volatile( \
    "stmxcsr %[saved]\n\tldmxcsr %[guest]\n\tmovdqu (%[d]), %%xmm0\n\tmovdqu (%[s]), %%xmm1\n\t" \
    BODY "\n\tstmxcsr %[after]\n\tldmxcsr %[saved]" \
    : [saved] "=m"(saved), [after] "=m"(after) \
    : [guest] "m"(guest), [d] "r"(dst), [s] "r"(src) \
    : "xmm0", "xmm1", "rax", "cc", "memory")

#define EMU_SSE_STORE_XMM "\n\tmovdqu %%xmm0, (%[d])"

/* DPPS/DPPD with each of the 256 immediates: `K` is a constant expression such as 0+16+4+1,
 * which is both a C case label and, stringified, an assembler immediate. */
#define EMU_SSE_DP(INSN, K) case K: EMU_SSE_ASM(INSN " $(" #K "), %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
#define EMU_SSE_DP4(INSN, K) EMU_SSE_DP(INSN, K+0) EMU_SSE_DP(INSN, K+1) EMU_SSE_DP(INSN, K+2) EMU_SSE_DP(INSN, K+3)
#define EMU_SSE_DP16(INSN, K) EMU_SSE_DP4(INSN, K+0) EMU_SSE_DP4(INSN, K+4) EMU_SSE_DP4(INSN, K+8) EMU_SSE_DP4(INSN, K+12)
#define EMU_SSE_DP64(INSN, K) EMU_SSE_DP16(INSN, K+0) EMU_SSE_DP16(INSN, K+16) EMU_SSE_DP16(INSN, K+32) EMU_SSE_DP16(INSN, K+48)
#define EMU_SSE_DP256(INSN) EMU_SSE_DP64(INSN, 0) EMU_SSE_DP64(INSN, 64) EMU_SSE_DP64(INSN, 128) EMU_SSE_DP64(INSN, 192)
#define EMU_SSE_STORE_RAX "\n\tmov %%rax, (%[d])"

uint32_t emu_sse_execute(int op, uint32_t imm, uint32_t mxcsr, uint64_t dst[2], const uint64_t src[2]) {
    uint32_t saved = 0, after = 0;
    uint32_t guest = (mxcsr & 0xFFC0u) | 0x1F80u;
    switch (op) {
    case EMU_SSE_ADDPS: EMU_SSE_ASM("addps %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_ADDPD: EMU_SSE_ASM("addpd %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_ADDSS: EMU_SSE_ASM("addss %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_ADDSD: EMU_SSE_ASM("addsd %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_SUBPS: EMU_SSE_ASM("subps %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_SUBPD: EMU_SSE_ASM("subpd %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_SUBSS: EMU_SSE_ASM("subss %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_SUBSD: EMU_SSE_ASM("subsd %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_MULPS: EMU_SSE_ASM("mulps %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_MULPD: EMU_SSE_ASM("mulpd %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_MULSS: EMU_SSE_ASM("mulss %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_MULSD: EMU_SSE_ASM("mulsd %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_DIVPS: EMU_SSE_ASM("divps %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_DIVPD: EMU_SSE_ASM("divpd %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_DIVSS: EMU_SSE_ASM("divss %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_DIVSD: EMU_SSE_ASM("divsd %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_MINPS: EMU_SSE_ASM("minps %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_MINPD: EMU_SSE_ASM("minpd %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_MINSS: EMU_SSE_ASM("minss %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_MINSD: EMU_SSE_ASM("minsd %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_MAXPS: EMU_SSE_ASM("maxps %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_MAXPD: EMU_SSE_ASM("maxpd %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_MAXSS: EMU_SSE_ASM("maxss %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_MAXSD: EMU_SSE_ASM("maxsd %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_SQRTPS: EMU_SSE_ASM("sqrtps %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_SQRTPD: EMU_SSE_ASM("sqrtpd %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_SQRTSS: EMU_SSE_ASM("sqrtss %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_SQRTSD: EMU_SSE_ASM("sqrtsd %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_ADDSUBPS: EMU_SSE_ASM("addsubps %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_ADDSUBPD: EMU_SSE_ASM("addsubpd %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_HADDPS: EMU_SSE_ASM("haddps %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_HADDPD: EMU_SSE_ASM("haddpd %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_HSUBPS: EMU_SSE_ASM("hsubps %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_HSUBPD: EMU_SSE_ASM("hsubpd %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_CMPPS:
        switch (imm) {
        case 0: EMU_SSE_ASM("cmpps $0, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 1: EMU_SSE_ASM("cmpps $1, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 2: EMU_SSE_ASM("cmpps $2, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 3: EMU_SSE_ASM("cmpps $3, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 4: EMU_SSE_ASM("cmpps $4, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 5: EMU_SSE_ASM("cmpps $5, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 6: EMU_SSE_ASM("cmpps $6, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 7: EMU_SSE_ASM("cmpps $7, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        default: return 0;
        }
        break;
    case EMU_SSE_CMPPD:
        switch (imm) {
        case 0: EMU_SSE_ASM("cmppd $0, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 1: EMU_SSE_ASM("cmppd $1, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 2: EMU_SSE_ASM("cmppd $2, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 3: EMU_SSE_ASM("cmppd $3, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 4: EMU_SSE_ASM("cmppd $4, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 5: EMU_SSE_ASM("cmppd $5, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 6: EMU_SSE_ASM("cmppd $6, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 7: EMU_SSE_ASM("cmppd $7, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        default: return 0;
        }
        break;
    case EMU_SSE_CMPSS:
        switch (imm) {
        case 0: EMU_SSE_ASM("cmpss $0, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 1: EMU_SSE_ASM("cmpss $1, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 2: EMU_SSE_ASM("cmpss $2, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 3: EMU_SSE_ASM("cmpss $3, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 4: EMU_SSE_ASM("cmpss $4, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 5: EMU_SSE_ASM("cmpss $5, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 6: EMU_SSE_ASM("cmpss $6, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 7: EMU_SSE_ASM("cmpss $7, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        default: return 0;
        }
        break;
    case EMU_SSE_CMPSD:
        switch (imm) {
        case 0: EMU_SSE_ASM("cmpsd $0, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 1: EMU_SSE_ASM("cmpsd $1, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 2: EMU_SSE_ASM("cmpsd $2, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 3: EMU_SSE_ASM("cmpsd $3, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 4: EMU_SSE_ASM("cmpsd $4, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 5: EMU_SSE_ASM("cmpsd $5, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 6: EMU_SSE_ASM("cmpsd $6, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 7: EMU_SSE_ASM("cmpsd $7, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        default: return 0;
        }
        break;
    case EMU_SSE_ROUNDPS:
        switch (imm) {
        case 0: EMU_SSE_ASM("roundps $0, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 1: EMU_SSE_ASM("roundps $1, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 2: EMU_SSE_ASM("roundps $2, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 3: EMU_SSE_ASM("roundps $3, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 4: EMU_SSE_ASM("roundps $4, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 5: EMU_SSE_ASM("roundps $5, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 6: EMU_SSE_ASM("roundps $6, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 7: EMU_SSE_ASM("roundps $7, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 8: EMU_SSE_ASM("roundps $8, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 9: EMU_SSE_ASM("roundps $9, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 10: EMU_SSE_ASM("roundps $10, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 11: EMU_SSE_ASM("roundps $11, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 12: EMU_SSE_ASM("roundps $12, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 13: EMU_SSE_ASM("roundps $13, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 14: EMU_SSE_ASM("roundps $14, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 15: EMU_SSE_ASM("roundps $15, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        default: return 0;
        }
        break;
    case EMU_SSE_ROUNDPD:
        switch (imm) {
        case 0: EMU_SSE_ASM("roundpd $0, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 1: EMU_SSE_ASM("roundpd $1, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 2: EMU_SSE_ASM("roundpd $2, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 3: EMU_SSE_ASM("roundpd $3, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 4: EMU_SSE_ASM("roundpd $4, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 5: EMU_SSE_ASM("roundpd $5, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 6: EMU_SSE_ASM("roundpd $6, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 7: EMU_SSE_ASM("roundpd $7, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 8: EMU_SSE_ASM("roundpd $8, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 9: EMU_SSE_ASM("roundpd $9, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 10: EMU_SSE_ASM("roundpd $10, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 11: EMU_SSE_ASM("roundpd $11, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 12: EMU_SSE_ASM("roundpd $12, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 13: EMU_SSE_ASM("roundpd $13, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 14: EMU_SSE_ASM("roundpd $14, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 15: EMU_SSE_ASM("roundpd $15, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        default: return 0;
        }
        break;
    case EMU_SSE_ROUNDSS:
        switch (imm) {
        case 0: EMU_SSE_ASM("roundss $0, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 1: EMU_SSE_ASM("roundss $1, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 2: EMU_SSE_ASM("roundss $2, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 3: EMU_SSE_ASM("roundss $3, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 4: EMU_SSE_ASM("roundss $4, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 5: EMU_SSE_ASM("roundss $5, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 6: EMU_SSE_ASM("roundss $6, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 7: EMU_SSE_ASM("roundss $7, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 8: EMU_SSE_ASM("roundss $8, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 9: EMU_SSE_ASM("roundss $9, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 10: EMU_SSE_ASM("roundss $10, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 11: EMU_SSE_ASM("roundss $11, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 12: EMU_SSE_ASM("roundss $12, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 13: EMU_SSE_ASM("roundss $13, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 14: EMU_SSE_ASM("roundss $14, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 15: EMU_SSE_ASM("roundss $15, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        default: return 0;
        }
        break;
    case EMU_SSE_ROUNDSD:
        switch (imm) {
        case 0: EMU_SSE_ASM("roundsd $0, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 1: EMU_SSE_ASM("roundsd $1, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 2: EMU_SSE_ASM("roundsd $2, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 3: EMU_SSE_ASM("roundsd $3, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 4: EMU_SSE_ASM("roundsd $4, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 5: EMU_SSE_ASM("roundsd $5, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 6: EMU_SSE_ASM("roundsd $6, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 7: EMU_SSE_ASM("roundsd $7, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 8: EMU_SSE_ASM("roundsd $8, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 9: EMU_SSE_ASM("roundsd $9, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 10: EMU_SSE_ASM("roundsd $10, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 11: EMU_SSE_ASM("roundsd $11, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 12: EMU_SSE_ASM("roundsd $12, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 13: EMU_SSE_ASM("roundsd $13, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 14: EMU_SSE_ASM("roundsd $14, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        case 15: EMU_SSE_ASM("roundsd $15, %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
        default: return 0;
        }
        break;
    case EMU_SSE_DPPS:
        switch (imm) {
        EMU_SSE_DP256("dpps")
        default: return 0;
        }
        break;
    case EMU_SSE_DPPD:
        switch (imm) {
        EMU_SSE_DP256("dppd")
        default: return 0;
        }
        break;
    case EMU_SSE_CVTSD2SS: EMU_SSE_ASM("cvtsd2ss %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_CVTSS2SD: EMU_SSE_ASM("cvtss2sd %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_CVTPS2PD: EMU_SSE_ASM("cvtps2pd %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_CVTPD2PS: EMU_SSE_ASM("cvtpd2ps %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_CVTDQ2PD: EMU_SSE_ASM("cvtdq2pd %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_CVTDQ2PS: EMU_SSE_ASM("cvtdq2ps %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_CVTPS2DQ: EMU_SSE_ASM("cvtps2dq %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_CVTTPS2DQ: EMU_SSE_ASM("cvttps2dq %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_CVTPD2DQ: EMU_SSE_ASM("cvtpd2dq %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_CVTTPD2DQ: EMU_SSE_ASM("cvttpd2dq %%xmm1, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_CVTSI2SSL: EMU_SSE_ASM("mov (%[s]), %%rax\n\tcvtsi2ssl %%eax, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_CVTSI2SSQ: EMU_SSE_ASM("mov (%[s]), %%rax\n\tcvtsi2ssq %%rax, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_CVTSI2SDL: EMU_SSE_ASM("mov (%[s]), %%rax\n\tcvtsi2sdl %%eax, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_CVTSI2SDQ: EMU_SSE_ASM("mov (%[s]), %%rax\n\tcvtsi2sdq %%rax, %%xmm0" EMU_SSE_STORE_XMM); break;
    case EMU_SSE_CVTSS2SI32: EMU_SSE_ASM("xor %%eax, %%eax\n\tcvtss2si %%xmm1, %%eax" EMU_SSE_STORE_RAX); break;
    case EMU_SSE_CVTSS2SI64: EMU_SSE_ASM("xor %%eax, %%eax\n\tcvtss2si %%xmm1, %%rax" EMU_SSE_STORE_RAX); break;
    case EMU_SSE_CVTTSS2SI32: EMU_SSE_ASM("xor %%eax, %%eax\n\tcvttss2si %%xmm1, %%eax" EMU_SSE_STORE_RAX); break;
    case EMU_SSE_CVTTSS2SI64: EMU_SSE_ASM("xor %%eax, %%eax\n\tcvttss2si %%xmm1, %%rax" EMU_SSE_STORE_RAX); break;
    case EMU_SSE_CVTSD2SI32: EMU_SSE_ASM("xor %%eax, %%eax\n\tcvtsd2si %%xmm1, %%eax" EMU_SSE_STORE_RAX); break;
    case EMU_SSE_CVTSD2SI64: EMU_SSE_ASM("xor %%eax, %%eax\n\tcvtsd2si %%xmm1, %%rax" EMU_SSE_STORE_RAX); break;
    case EMU_SSE_CVTTSD2SI32: EMU_SSE_ASM("xor %%eax, %%eax\n\tcvttsd2si %%xmm1, %%eax" EMU_SSE_STORE_RAX); break;
    case EMU_SSE_CVTTSD2SI64: EMU_SSE_ASM("xor %%eax, %%eax\n\tcvttsd2si %%xmm1, %%rax" EMU_SSE_STORE_RAX); break;
    case EMU_SSE_COMISS: EMU_SSE_ASM("comiss %%xmm1, %%xmm0\n\tlahf\n\tshr $8, %%eax\n\tmovzbl %%al, %%eax" EMU_SSE_STORE_RAX); break;
    case EMU_SSE_COMISD: EMU_SSE_ASM("comisd %%xmm1, %%xmm0\n\tlahf\n\tshr $8, %%eax\n\tmovzbl %%al, %%eax" EMU_SSE_STORE_RAX); break;
    case EMU_SSE_UCOMISS: EMU_SSE_ASM("ucomiss %%xmm1, %%xmm0\n\tlahf\n\tshr $8, %%eax\n\tmovzbl %%al, %%eax" EMU_SSE_STORE_RAX); break;
    case EMU_SSE_UCOMISD: EMU_SSE_ASM("ucomisd %%xmm1, %%xmm0\n\tlahf\n\tshr $8, %%eax\n\tmovzbl %%al, %%eax" EMU_SSE_STORE_RAX); break;
    default:
        return 0;
    }
    return after & 0x3Fu;
}
