/* Hostile guest: the first instruction is a far jump to the null selector, in 32-bit protected mode
   with the loader's GDT and no IDT of the kernel's own (#GP that cannot be delivered: a triple
   fault on a loader that leaves no usable IDT). */
    .section .multiboot, "a"
    .align 4
    .long 0x1BADB002, 0, -(0x1BADB002)
    .section .text.entry, "ax"
    .code32
    .globl _start
_start:
    ljmp $0, $0
    hlt
