/* Hostile guest: a valid Multiboot header, then random bytes as the code at the entry point (run in
   32-bit protected mode with paging off). RANDOM_BIN names the bytes (build.sh generates them). */
    .section .multiboot, "a"
    .align 4
    .long 0x1BADB002, 0, -(0x1BADB002)
    .section .text.entry, "ax"
    .globl _start
_start:
    .incbin RANDOM_BIN
