/* malloc/realloc/free of small and large blocks (brk and mmap), mprotect'd pages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int main(void) {
    void *blocks[1000];
    unsigned long check = 0;
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 1000; i++) {
            size_t n = (size_t)((i * 2654435761u + round) % 5000) + 1;
            if (i % 97 == 0) n = 300000 + i;
            blocks[i] = malloc(n);
            memset(blocks[i], i & 0xFF, n);
        }
        for (int i = 0; i < 1000; i += 2) { blocks[i] = realloc(blocks[i], 7000); check += ((unsigned char *)blocks[i])[0]; }
        for (int i = 0; i < 1000; i++) free(blocks[i]);
    }
    char *page = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (int i = 0; i < (1 << 20); i += 4096) page[i] = (char)i;
    mprotect(page, 1 << 20, PROT_READ);
    for (int i = 0; i < (1 << 20); i += 4096) check += (unsigned char)page[i];
    munmap(page, 1 << 20);
    printf("check=%lu\n", check);
    return 0;
}
