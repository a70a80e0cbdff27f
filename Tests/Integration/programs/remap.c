/* mremap: growth that must move (MREMAP_MAYMOVE), growth refused without it, shrinking,
 * MREMAP_FIXED to a chosen address, the argument checks, a shared file mapping that stays
 * shared after a move, and code on moved pages: the old address runs new code, the new one the
 * moved code. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static sigjmp_buf jump;
static void on_segv(int sig) { (void)sig; siglongjmp(jump, 1); }

static int mapped(volatile char *p) {
    if (sigsetjmp(jump, 1) == 0) { (void)*p; return 1; }
    return 0;
}

static void *remap(void *old, size_t old_size, size_t new_size, int flags, void *target) {
    void *r = mremap(old, old_size, new_size, flags, target);
    return r;
}

int main(void) {
    signal(SIGSEGV, on_segv);
    const size_t page = 4096;
    /* Three pages and, right after them, a read-only one: growth cannot happen in place. */
    char *p = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (size_t i = 0; i < 3 * page; i++) p[i] = (char)(i * 7 + 1);
    printf("wall: %d\n", mprotect(p + 3 * page, page, PROT_READ));
    errno = 0;
    void *r = remap(p, 3 * page, 64 * page, 0, NULL);
    printf("grow without MAYMOVE: %s errno %d\n", r == MAP_FAILED ? "failed" : "ok", errno);
    char *q = remap(p, 3 * page, 64 * page, MREMAP_MAYMOVE, NULL);
    int same = 1;
    for (size_t i = 0; i < 3 * page; i++) same &= q[i] == (char)(i * 7 + 1);
    int zero = 1;
    for (size_t i = 3 * page; i < 64 * page; i++) zero &= q[i] == 0;
    q[64 * page - 1] = 5;
    printf("grow with MAYMOVE: moved %d contents %d new pages zero %d old mapped %d\n", q != p, same, zero, mapped(p));
    /* Shrink in place. */
    char *s = remap(q, 64 * page, 2 * page, 0, NULL);
    printf("shrink: same address %d tail mapped %d head %d\n", s == q, mapped(q + 3 * page), q[page + 5] == (char)((page + 5) * 7 + 1));
    /* MREMAP_FIXED to a reserved address. */
    char *target = mmap(NULL, 8 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *f = remap(s, 2 * page, 3 * page, MREMAP_MAYMOVE | MREMAP_FIXED, target + 2 * page);
    printf("fixed: at target %d contents %d third page zero %d old mapped %d\n", f == target + 2 * page,
           f[100] == (char)(100 * 7 + 1), f[2 * page + 9] == 0, mapped(s));
    /* Argument checks. */
    errno = 0; r = remap(f, page, page, MREMAP_FIXED, target); printf("fixed without maymove: errno %d\n", r == MAP_FAILED ? errno : 0);
    errno = 0; r = remap(f, 2 * page, 2 * page, MREMAP_MAYMOVE | MREMAP_FIXED, f + page); printf("overlap: errno %d\n", r == MAP_FAILED ? errno : 0);
    errno = 0; r = remap(f, page, page, 8, NULL); printf("unknown flag: errno %d\n", r == MAP_FAILED ? errno : 0);
    errno = 0; r = remap(f + 1, page, page, 0, NULL); printf("unaligned: errno %d\n", r == MAP_FAILED ? errno : 0);
    errno = 0; r = remap(f, page, 0, 0, NULL); printf("zero size: errno %d\n", r == MAP_FAILED ? errno : 0);
    errno = 0; r = remap(s, page, 2 * page, MREMAP_MAYMOVE, NULL); printf("unmapped: errno %d\n", r == MAP_FAILED ? errno : 0);
    /* A shared file mapping moved with MREMAP_FIXED stays backed by the file. */
    char path[] = "/tmp/emu-remap-XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    char block[8192];
    memset(block, 'a', sizeof block);
    if (write(fd, block, sizeof block) != (ssize_t)sizeof block) return 1;
    char *m = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    char *moved = remap(m, 2 * page, 2 * page, MREMAP_MAYMOVE | MREMAP_FIXED, target + 6 * page);
    moved[page + 3] = 'Z';
    char back = 0;
    if (pread(fd, &back, 1, page + 3) != 1) return 1;
    printf("shared file mapping moved: %d file sees the write: %c old mapped %d\n", moved == target + 6 * page, back, mapped(m));
    /* Code on moved pages. */
    unsigned char *code = mmap(NULL, page, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    const unsigned char ret42[] = {0xB8, 42, 0, 0, 0, 0xC3}, ret7[] = {0xB8, 7, 0, 0, 0, 0xC3};
    memcpy(code, ret42, sizeof ret42);
    int (*fn)(void) = (int (*)(void))code;
    int before = fn();
    unsigned char *there = mmap(NULL, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned char *moved_code = remap(code, page, page, MREMAP_MAYMOVE | MREMAP_FIXED, there);
    unsigned char *again = mmap(code, page, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    memcpy(again, ret7, sizeof ret7);
    int old_address = ((int (*)(void))again)();
    int new_address = ((int (*)(void))moved_code)();
    printf("code: before %d, old address now %d, moved code %d\n", before, old_address, new_address);
    return 0;
}
