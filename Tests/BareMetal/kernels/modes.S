/* Mode switches for the modes kernel: the round trip Linux's decompressor makes (LRETQ to a 32-bit
   code segment, paging off, CR4/CR3 reload, EFER.LME, paging on, far jump back), and far
   calls/returns between 64-bit and compatibility mode. */
#include "layout.h"

    .data
    .globl rt_efer_compat, rt_efer_nopaging, rt_efer_back, rt_dec, rt_push, rt_wrap, rt_new_cr3
    .globl rt_phys_read, c32_push
rt_efer_compat:   .long 0
rt_efer_nopaging: .long 0
rt_efer_back:     .long 0
rt_dec:           .long 0
rt_push:          .long 0
rt_wrap:          .long 0
rt_phys_read:     .long 0
c32_push:         .long 0
rt_new_cr3:       .quad 0
saved_rsp:        .quad 0

    .text
    .code64
/* void roundtrip(void): 64-bit -> compatibility mode -> 32-bit protected mode, paging off ->
   long mode with the CR3 in rt_new_cr3 -> 64-bit. Records what it sees in rt_*. */
    .globl roundtrip
roundtrip:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, saved_rsp(%rip)
    pushq $SEL_KCODE32
    lea compat32(%rip), %rax
    push %rax
    lretq

    .code32
compat32:
    mov $SEL_KDATA, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $MSR_EFER, %ecx
    rdmsr
    mov %eax, rt_efer_compat
    mov $5, %eax
    .byte 0x48                          /* DEC EAX here; a REX prefix in 64-bit mode */
    mov %eax, rt_dec
    mov %esp, %ebx                      /* PUSH moves ESP by 4 */
    push %eax
    mov %esp, %ecx
    pop %eax
    sub %ecx, %ebx
    mov %ebx, rt_push

    mov %cr0, %eax                      /* paging off: the CPU leaves long mode */
    and $~CR0_PG, %eax
    mov %eax, %cr0
    mov $MSR_EFER, %ecx
    rdmsr
    mov %eax, rt_efer_nopaging
    movl $0xC0DE, 0x8                   /* linear 8 is physical 8 now (unmapped with paging) */
    mov $0xFFFFFFF0, %ebx               /* 32-bit addresses wrap: 0xFFFFFFF0 + 0x18 = 8 */
    mov 0x18(%ebx), %eax
    mov %eax, rt_wrap

    mov %cr4, %eax                      /* reload CR4 and CR3, set LME, paging on */
    mov %eax, %cr4
    mov rt_new_cr3, %eax
    mov %eax, %cr3
    mov $MSR_EFER, %ecx
    rdmsr
    or $EFER_LME, %eax
    wrmsr
    mov %cr0, %eax
    or $CR0_PG, %eax
    mov %eax, %cr0
    mov $MSR_EFER, %ecx
    rdmsr
    mov %eax, rt_efer_back
    ljmp $SEL_KCODE, $back64

    .code64
back64:
    mov saved_rsp(%rip), %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret

/* Compatibility-mode routine for far calls: returns 0x12345677 in EAX (DEC EAX), records how far
   the far call moved ESP (at entry, relative to the caller's value in EDI), returns with LRET. */
    .code32
    .globl c32_routine
c32_routine:
    mov %edi, %ecx
    sub %esp, %ecx
    mov %ecx, c32_push
    mov $0x12345678, %eax
    .byte 0x48
    lret

    .code64
/* u64 far_call32(void): LCALL m16:32 to c32_routine; EDI carries RSP before the call. */
    .globl far_call32
far_call32:
    push %rbx
    mov %rsp, %rdi
    lcall *c32_ptr(%rip)
    pop %rbx
    ret

/* u64 far_call64(void): REX.W LCALL m16:64 to a 64-bit routine that returns with LRETQ; returns
   how far the call moved RSP. */
    .globl far_call64
far_call64:
    mov %rsp, %rdi
    rex64 lcall *c64_ptr(%rip)
    ret
c64_routine:
    mov %rdi, %rax
    sub %rsp, %rax
    lretq

/* u64 far_jump64(void): REX.W LJMP m16:64; returns 1 when it got there. */
    .globl far_jump64
far_jump64:
    rex64 ljmp *j64_ptr(%rip)
    xor %eax, %eax
    ret
j64_target:
    mov $1, %eax
    ret

/* void far_jump_sel(u16 sel): LJMP m16:32 to sel:far_jump_sel (faults for a bad selector). */
    .globl far_jump_sel
far_jump_sel:
    mov %di, jsel_ptr+4(%rip)
    ljmp *jsel_ptr(%rip)

/* void jmp_far_direct(void): the direct far JMP (0xEA) does not exist in 64-bit mode. */
    .globl jmp_far_direct
jmp_far_direct:
    .byte 0xEA, 0, 0, 0, 0, 0x08, 0
    ret

/* void lret_to_user(u64 rip, u64 rsp): LRETQ to CPL 3 (pops RIP, CS, RSP, SS). */
    .globl lret_to_user
lret_to_user:
    pushq $SEL_UDATA
    push %rsi
    pushq $SEL_UCODE
    push %rdi
    lretq

    .data
    .align 8
c32_ptr:  .long c32_routine
          .word SEL_KCODE32
    .align 8
c64_ptr:  .quad c64_routine
          .word SEL_KCODE
    .align 8
j64_ptr:  .quad j64_target
          .word SEL_KCODE
    .align 8
jsel_ptr: .long far_jump_sel
          .word 0
