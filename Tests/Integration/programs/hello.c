#include <stdio.h>
int main(int argc, char **argv) {
    printf("hello, world: %d arguments, first %s\n", argc, argc > 1 ? argv[1] : "(none)");
    return 3;
}
