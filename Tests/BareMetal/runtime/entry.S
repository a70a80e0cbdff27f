/* The shared entry of every test kernel: the Multiboot (v1) header, the 32-bit entry (protected
   mode, paging off, EAX = 0x2BADB002, EBX = the Multiboot information), the switch to long mode,
   the GDT and the boot page tables, the 256 interrupt stubs, the fault-catching helpers and the
   SYSCALL entry. */
#include "layout.h"

    .section .multiboot, "a"
    .align 4
multiboot_header:
    .long 0x1BADB002                    /* magic */
    .long 0                             /* flags: nothing requested, the ELF headers say where */
    .long -(0x1BADB002)                 /* checksum */

/* ---------------------------------------------------------------- 32-bit entry */
    .section .text.entry, "ax"
    .code32
    .globl _start
_start:
    mov %eax, boot_magic                /* the loader's magic and information pointer (in .data) */
    mov %ebx, boot_info
    mov %cr0, %eax                      /* and the state it left: CR0 and EFLAGS */
    mov %eax, boot_cr0
    mov $boot_stack_top, %esp
    pushfl
    pop %eax
    mov %eax, boot_eflags
    cli
    cld
    mov $__bss_start, %edi              /* the loader zeroes bss too; do it anyway */
    mov $__bss_end, %ecx
    sub %edi, %ecx
    xor %eax, %eax
    rep stosb

    lgdt gdtr
    ljmp $SEL_KCODE32, $1f
1:  mov $SEL_KDATA, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %ax, %fs
    mov %ax, %gs

    mov %cr4, %eax                      /* PAE, PGE, OSFXSR, OSXMMEXCPT */
    or $(CR4_PAE | CR4_PGE | CR4_OSFXSR | CR4_OSXMMEXCPT), %eax
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $MSR_EFER, %ecx                 /* long mode, NX, SYSCALL */
    rdmsr
    or $(EFER_LME | EFER_NXE | EFER_SCE), %eax
    wrmsr
    mov %cr0, %eax                      /* paging, write protect, MP; no EM, no TS, caches on */
    and $~(CR0_EM | CR0_TS | CR0_CD | CR0_NW), %eax
    or $(CR0_PG | CR0_PE | CR0_WP | CR0_MP | CR0_NE), %eax
    mov %eax, %cr0
    ljmp $SEL_KCODE, $long_entry

/* ---------------------------------------------------------------- 64-bit entry */
    .code64
long_entry:
    mov $SEL_KDATA, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %eax, %eax
    mov %ax, %fs
    mov %ax, %gs
    mov $boot_stack_top, %rsp
    xor %ebp, %ebp
    call rt_main                        /* never returns */
2:  hlt
    jmp 2b

/* ---------------------------------------------------------------- interrupt stubs */
/* Every vector pushes (error code or 0, vector) and joins trap_common, which saves the general
   registers as a struct trap_frame and calls trap(frame). */
    .text
    .altmacro
    .macro stub vec
    .align 16
isr_\vec:
    .if (\vec == 8) || (\vec == 10) || (\vec == 11) || (\vec == 12) || (\vec == 13) || (\vec == 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
    .else
    push $0
    .endif
    push $\vec
    jmp trap_common
    .endm

    .set v, 0
    .rept 256
    stub %v
    .set v, v + 1
    .endr

    .section .rodata
    .align 8
    .globl isr_table
isr_table:
    .macro isr_addr vec
    .quad isr_\vec
    .endm
    .set v, 0
    .rept 256
    isr_addr %v
    .set v, v + 1
    .endr
    .noaltmacro

    .text
trap_common:
    push %r15
    push %r14
    push %r13
    push %r12
    push %r11
    push %r10
    push %r9
    push %r8
    push %rbp
    push %rdi
    push %rsi
    push %rdx
    push %rcx
    push %rbx
    push %rax
    cld
    mov %rsp, %rdi
    mov %rsp, %rbx
    and $-16, %rsp
    call trap
    mov %rbx, %rsp
    .globl trap_return
trap_return:
    pop %rax
    pop %rbx
    pop %rcx
    pop %rdx
    pop %rsi
    pop %rdi
    pop %rbp
    pop %r8
    pop %r9
    pop %r10
    pop %r11
    pop %r12
    pop %r13
    pop %r14
    pop %r15
    add $16, %rsp
    iretq

/* ---------------------------------------------------------------- catching faults */
/* int catch_arm(struct catch_buf *b): like setjmp. Returns 0 now, and 1 when trap() resumes here
   after a fault (or catch_jump is called). Layout: rbx rbp r12 r13 r14 r15 rsp rip rflags armed. */
    .globl catch_arm
catch_arm:
    mov %rbx, 0(%rdi)
    mov %rbp, 8(%rdi)
    mov %r12, 16(%rdi)
    mov %r13, 24(%rdi)
    mov %r14, 32(%rdi)
    mov %r15, 40(%rdi)
    lea 8(%rsp), %rax
    mov %rax, 48(%rdi)
    mov (%rsp), %rax
    mov %rax, 56(%rdi)
    pushfq
    pop %rax
    mov %rax, 64(%rdi)
    movq $1, 72(%rdi)
    xor %eax, %eax
    ret

/* void catch_jump(struct catch_buf *b, long value): like longjmp, at CPL 0. */
    .globl catch_jump
catch_jump:
    movq $0, 72(%rdi)
    mov 0(%rdi), %rbx
    mov 8(%rdi), %rbp
    mov 16(%rdi), %r12
    mov 24(%rdi), %r13
    mov 32(%rdi), %r14
    mov 40(%rdi), %r15
    mov 48(%rdi), %rsp
    push 64(%rdi)
    popfq
    mov %rsi, %rax
    jmp *56(%rdi)

/* ---------------------------------------------------------------- SYSCALL */
/* SYSCALL leaves RSP at the user's value: switch to the syscall stack, save the user's RCX
   (return RIP), R11 (RFLAGS) and RSP as a struct syscall_frame, call syscall_dispatch(frame), and
   return with SYSRETQ (the dispatcher may also leave through catch_jump). */
    .globl syscall_entry
syscall_entry:
    mov %rsp, syscall_user_rsp
    mov $syscall_stack_top, %rsp
    push syscall_user_rsp
    push %r11
    push %rcx
    push %r9
    push %r8
    push %r10
    push %rdx
    push %rsi
    push %rdi
    push %rax
    mov %rsp, %rdi
    call syscall_dispatch               /* returns the value for RAX */
    add $8, %rsp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %r10
    pop %r8
    pop %r9
    pop %rcx
    pop %r11
    pop %rsp
    sysretq

/* void enter_user(u64 rip, u64 rsp, u64 arg): IRETQ to CPL 3 with the user code and stack
   selectors, RFLAGS as now plus the bits in user_rflags_or, RDI = arg. */
    .globl enter_user
enter_user:
    mov %rdx, %r8
    pushq $SEL_UDATA
    push %rsi
    pushfq
    mov user_rflags_or(%rip), %rax
    or %rax, (%rsp)
    pushq $SEL_UCODE
    push %rdi
    mov %r8, %rdi
    xor %eax, %eax
    xor %ebx, %ebx
    xor %ecx, %ecx
    xor %edx, %edx
    xor %esi, %esi
    xor %ebp, %ebp
    xor %r8d, %r8d
    xor %r9d, %r9d
    xor %r10d, %r10d
    xor %r11d, %r11d
    iretq

/* ---------------------------------------------------------------- data */
    .data
    .align 16
    .globl gdt
gdt:
    .quad 0                             /* 0x00 null */
    /* Accessed bits preset: loading a selector never has to write the GDT. */
    .quad 0x00AF9B000000FFFF            /* 0x08 kernel code, 64-bit */
    .quad 0x00CF93000000FFFF            /* 0x10 kernel data, flat */
    .quad 0x00CFFB000000FFFF            /* 0x18 user code, 32-bit */
    .quad 0x00CFF3000000FFFF            /* 0x20 user data, flat */
    .quad 0x00AFFB000000FFFF            /* 0x28 user code, 64-bit */
    .quad 0x00CF9B000000FFFF            /* 0x30 kernel code, 32-bit */
    .fill GDT_SPARE, 8, 0               /* 0x38..: free for the tests */
    .globl gdt_tss
gdt_tss:
    .quad 0, 0                          /* the TSS descriptor, filled in by rt_main */
gdt_end:
    .globl gdtr
    .align 16
gdtr:
    .word gdt_end - gdt - 1
    .quad gdt

    .globl user_rflags_or
user_rflags_or: .quad 0

    .globl boot_magic, boot_info, boot_cr0, boot_eflags
    .align 8
boot_magic: .long 0
boot_info:  .long 0
boot_cr0:   .long 0
boot_eflags: .long 0

/* Boot page tables: the first 4 GiB identity-mapped, the first 2 MiB with 4 KiB pages, the rest
   with 2 MiB pages, 3..4 GiB (MMIO) uncached. Every non-leaf entry allows user and write, so the
   leaf decides. */
    .align 4096
    .globl boot_pml4, boot_pdpt, boot_pd, boot_pt
boot_pml4:
    .quad boot_pdpt + 7
    .fill 511, 8, 0
boot_pdpt:
    .quad boot_pd + 0x0000 + 7
    .quad boot_pd + 0x1000 + 7
    .quad boot_pd + 0x2000 + 7
    .quad boot_pd + 0x3000 + 7
    .fill 508, 8, 0
boot_pd:
    .quad boot_pt + 7
    .set i, 1
    .rept 2047
    .if i >= 1536
    .quad (i << 21) | 0x9B              /* P W PWT PCD PS */
    .else
    .quad (i << 21) | 0x83              /* P W PS */
    .endif
    .set i, i + 1
    .endr
boot_pt:
    .set i, 0
    .rept 512
    .quad (i << 12) | 3
    .set i, i + 1
    .endr

    .bss
    .align 4096
    .globl boot_stack_top, syscall_stack_top, syscall_user_rsp
    .space 16384
boot_stack_top:
    .space 4096
syscall_stack_top:
syscall_user_rsp: .space 8
