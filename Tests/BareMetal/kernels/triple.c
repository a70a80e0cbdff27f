/* A triple fault: with an IDT limit of 0, INT3 cannot be delivered (#GP), nor can the #GP, nor the
   #DF: the processor shuts down and the machine resets (under -no-reboot: QEMU exits with status
   0, which run-qemu.sh reports as "END reset"). The kernel announces this with
   "EXPECT END reset". */
#include "runtime.h"

const char test_name[] = "triple";

void test_main(void) {
    /* First a #DF that is handled, so the machine is known to deliver #DF at all. */
    set_gate(13, isr_stub(13), 0xE, 0, 0, 0);
    int v = try_write(0x0000800000000000UL, 1, 0);     /* #GP, gate not present -> #NP -> #DF */
    set_gate(13, isr_stub(13), 0xE, 0, 0, 1);
    check_fault("df.before-triple", v, 8, 0, 0);
    if (failures) return;
    expect_reset();
    load_idt((u64)idt, 0);
    __asm__ volatile("int3");
    puts_dbg("still running after the triple fault\n");
    failures++;
}
