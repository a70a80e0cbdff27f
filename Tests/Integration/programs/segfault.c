/* Dies of SIGSEGV: the exit status (128 + 11 in the shell) must match. */
#include <stdio.h>
int main(void) {
    printf("before the fault\n");
    fflush(stdout);
    volatile int *p = (int *)16;
    return *p;
}
