#ifndef EMU_TCG_TEST_SUPPORT_H
#define EMU_TCG_TEST_SUPPORT_H
#include <stdint.h>

/// Operations emu_native_alu runs on the host CPU.
enum emu_native_op {
    EMU_NATIVE_ADD, EMU_NATIVE_OR, EMU_NATIVE_ADC, EMU_NATIVE_SBB, EMU_NATIVE_AND, EMU_NATIVE_SUB,
    EMU_NATIVE_XOR, EMU_NATIVE_CMP, EMU_NATIVE_SHL, EMU_NATIVE_SHR, EMU_NATIVE_SAR, EMU_NATIVE_IMUL,
    EMU_NATIVE_ROL, EMU_NATIVE_ROR, EMU_NATIVE_NEG, EMU_NATIVE_INC, EMU_NATIVE_DEC, EMU_NATIVE_RCL,
    EMU_NATIVE_RCR, EMU_NATIVE_COUNT
};

/// Runs `op a, b` (b in CL for shifts) at `size` bytes (1, 2, 4, 8) on the host CPU with RFLAGS
/// = flags_in beforehand; returns the result (zero-extended) and the RFLAGS after it.
/// Returns 0 and leaves *flags_out untouched for an unknown op or size.
uint64_t emu_native_alu(int op, int size, uint64_t a, uint64_t b, uint64_t flags_in, uint64_t *flags_out);

/// Runs `code` (register-only instructions ending in RET, never touching RSP) on the host CPU
/// with RAX…R15 (RSP excepted) loaded from regs[0…15] (x86 register order) and DF clear;
/// stores the registers back into regs and RFLAGS into *flags. `code` must be executable.
void emu_native_exec(const void *code, uint64_t regs[16], uint64_t *flags);
/// emu_native_exec with XMM0…XMM15 loaded from xmm[2k] (low 64 bits) and xmm[2k+1] (high) before
/// `code` runs and stored back after it (MXCSR is the host's, round-to-nearest by default).
void emu_native_exec_xmm(const void *code, uint64_t regs[16], uint64_t *flags, uint64_t xmm[32]);
/// An executable page of 4 KiB (RWX), or NULL.
void *emu_native_code_page(void);
#endif
