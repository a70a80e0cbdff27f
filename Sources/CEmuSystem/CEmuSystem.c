#define _GNU_SOURCE
#include "CEmuSystem.h"
#include <errno.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

int emu_memfd_create(const char *name, int allow_sealing) {
    unsigned int flags = MFD_CLOEXEC;
    if (allow_sealing) flags |= MFD_ALLOW_SEALING;
    return memfd_create(name, flags);
}

int emu_eventfd(unsigned int initial) {
    return eventfd(initial, EFD_CLOEXEC | EFD_NONBLOCK);
}

int emu_eventfd_read(int fd, uint64_t *value) {
    ssize_t n = read(fd, value, sizeof *value);
    if (n == (ssize_t)sizeof *value) return 0;
    if (n < 0 && errno == EAGAIN) { *value = 0; return 0; }
    if (n >= 0) errno = EIO;
    return -1;
}

int emu_eventfd_write(int fd, uint64_t value) {
    ssize_t n = write(fd, &value, sizeof value);
    if (n == (ssize_t)sizeof value) return 0;
    if (n >= 0) errno = EIO;
    return -1;
}

int emu_gettid(void) { return (int)gettid(); }

#include <pthread.h>
#include <string.h>

void emu_set_thread_name(const char *name) {
    char shortName[16];
    strncpy(shortName, name, sizeof shortName - 1);
    shortName[sizeof shortName - 1] = 0;
    pthread_setname_np(pthread_self(), shortName);
}
