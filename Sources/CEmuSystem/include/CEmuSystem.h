#ifndef EMU_CEMUSYSTEM_H
#define EMU_CEMUSYSTEM_H
#include <stddef.h>
#include <stdint.h>

/// memfd_create(2) with MFD_CLOEXEC; returns the fd or -1 with errno set.
int emu_memfd_create(const char *name, int allow_sealing);
/// eventfd(2) with EFD_CLOEXEC | EFD_NONBLOCK; returns the fd or -1 with errno set.
int emu_eventfd(unsigned int initial);
/// Reads an eventfd counter (0 when nothing was pending); -1 with errno on other errors.
int emu_eventfd_read(int fd, uint64_t *value);
/// Adds one to an eventfd counter; -1 with errno on error (EAGAIN only when saturated).
int emu_eventfd_write(int fd, uint64_t value);
/// Names the calling thread (truncated to 15 bytes, the kernel limit).
void emu_set_thread_name(const char *name);
/// The caller's kernel thread id.
int emu_gettid(void);
#endif
