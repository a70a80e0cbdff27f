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

#include <sys/statfs.h>
#include <sys/xattr.h>

int emu_fstatfs(int fd, uint64_t out[9]) {
    struct statfs s;
    if (fstatfs(fd, &s) != 0) return -1;
    out[0] = (uint64_t)s.f_type;
    out[1] = (uint64_t)s.f_bsize;
    out[2] = (uint64_t)s.f_blocks;
    out[3] = (uint64_t)s.f_bfree;
    out[4] = (uint64_t)s.f_bavail;
    out[5] = (uint64_t)s.f_files;
    out[6] = (uint64_t)s.f_ffree;
    out[7] = (uint64_t)(uint32_t)s.f_fsid.__val[0] | (uint64_t)(uint32_t)s.f_fsid.__val[1] << 32;
    out[8] = (uint64_t)s.f_namelen;
    return 0;
}

long emu_getxattr(const char *path, const char *name, void *value, size_t size) {
    return (long)getxattr(path, name, value, size);
}

long emu_listxattr(const char *path, char *list, size_t size) {
    return (long)listxattr(path, list, size);
}

int emu_setxattr(const char *path, const char *name, const void *value, size_t size, int flags) {
    return setxattr(path, name, value, size, flags);
}

int emu_removexattr(const char *path, const char *name) {
    return removexattr(path, name);
}

#include <fcntl.h>

int emu_fallocate(int fd, int mode, int64_t offset, int64_t length) {
    return fallocate(fd, mode, (off_t)offset, (off_t)length);
}

#include <sys/syscall.h>
#include <sys/uio.h>

long emu_preadv2(int fd, void *buffer, size_t count, int64_t offset, int flags) {
    struct iovec vector = { buffer, count };
    return (long)preadv2(fd, &vector, 1, (off_t)offset, flags);
}

#ifndef SYS_openat2
#define SYS_openat2 437 /* the same on every architecture */
#endif

int emu_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
    /* struct open_how, spelled out so the build does not depend on <linux/openat2.h>. */
    struct { uint64_t flags, mode, resolve; } how = { flags, mode, resolve };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

#include <sys/socket.h>

#define EMU_MAX_PASSED_FDS 16

long emu_send_with_fds(int socket, const void *bytes, size_t length, const int *fds, int fd_count) {
    if (fd_count < 0 || fd_count > EMU_MAX_PASSED_FDS) { errno = EINVAL; return -1; }
    struct iovec iov = { .iov_base = (void *)bytes, .iov_len = length };
    union { char buffer[CMSG_SPACE(sizeof(int) * EMU_MAX_PASSED_FDS)]; struct cmsghdr align; } control;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (fd_count > 0) {
        memset(&control, 0, sizeof control);
        msg.msg_control = control.buffer;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)fd_count);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)fd_count);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)fd_count);
    }
    ssize_t n;
    do { n = sendmsg(socket, &msg, MSG_NOSIGNAL); } while (n < 0 && errno == EINTR);
    return n;
}

long emu_recv_with_fds(int socket, void *bytes, size_t length, int *fds, int fd_capacity, int *fd_count,
                       int *truncated) {
    struct iovec iov = { .iov_base = bytes, .iov_len = length };
    union { char buffer[CMSG_SPACE(sizeof(int) * EMU_MAX_PASSED_FDS)]; struct cmsghdr align; } control;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buffer,
                          .msg_controllen = sizeof control.buffer };
    *fd_count = 0;
    *truncated = 0;
    ssize_t n;
    do { n = recvmsg(socket, &msg, MSG_CMSG_CLOEXEC); } while (n < 0 && errno == EINTR);
    if (n < 0) return n;
    if (msg.msg_flags & MSG_CTRUNC) *truncated = 1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int *received = (int *)CMSG_DATA(c);
        for (size_t i = 0; i < count; i++) {
            int fd;
            memcpy(&fd, received + i, sizeof fd);
            if (*fd_count < fd_capacity) fds[(*fd_count)++] = fd;
            else { close(fd); *truncated = 1; }
        }
    }
    return n;
}

long emu_raw_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6) {
#if defined(__x86_64__)
    long ret;
    register long r10 __asm__("r10") = a4;
    register long r8 __asm__("r8") = a5;
    register long r9 __asm__("r9") = a6;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
#else
    long ret = syscall(nr, a1, a2, a3, a4, a5, a6);
    return ret == -1 ? -errno : ret;
#endif
}

int emu_o_direct(void) {
    return O_DIRECT;
}

/* Safe system calls (seed 001). The window between "no unblocked signal pending" and the SYSCALL
 * instruction is [emu_safe_syscall_start, emu_safe_syscall_end); the signal handler below moves an
 * interrupted RIP inside it to emu_safe_syscall_interrupted, so the call is never entered with a
 * signal pending. */
#include <signal.h>
#include <ucontext.h>

/* Per host thread: each guest thread runs on its own host thread, and a signal is taken by
 * the thread it was delivered to. Initial-exec TLS, so the stub below can address them. */
__thread volatile uint64_t emu_host_pending_signals __attribute__((tls_model("initial-exec"), visibility("hidden")));
__thread volatile uint64_t emu_guest_blocked_signals __attribute__((tls_model("initial-exec"), visibility("hidden")));

#if defined(__x86_64__)
extern char emu_safe_syscall_start[], emu_safe_syscall_end[], emu_safe_syscall_interrupted[];
__asm__(
    ".text\n"
    ".globl emu_safe_syscall\n"
    ".type emu_safe_syscall, @function\n"
    "emu_safe_syscall:\n"
    "    mov %rdi, %rax\n"
    "    mov %rsi, %rdi\n"
    "    mov %rdx, %rsi\n"
    "    mov %rcx, %rdx\n"
    "    mov %r8, %r10\n"
    "    mov %r9, %r8\n"
    "    mov 8(%rsp), %r9\n"
    ".globl emu_safe_syscall_start\n"
    "emu_safe_syscall_start:\n"
    "    mov emu_guest_blocked_signals@gottpoff(%rip), %rcx\n"
    "    mov %fs:(%rcx), %rcx\n"
    "    not %rcx\n"
    "    mov emu_host_pending_signals@gottpoff(%rip), %r11\n" /* SYSCALL clobbers R11 anyway */
    "    and %fs:(%r11), %rcx\n"
    "    jnz emu_safe_syscall_interrupted\n"
    "    syscall\n"
    ".globl emu_safe_syscall_end\n"
    "emu_safe_syscall_end:\n"
    "    ret\n"
    ".globl emu_safe_syscall_interrupted\n"
    "emu_safe_syscall_interrupted:\n"
    "    mov $-512, %rax\n"
    "    ret\n"
    ".size emu_safe_syscall, .-emu_safe_syscall\n");

static void emu_forwarding_handler(int sig, siginfo_t *info, void *context) {
    (void)info;
    __atomic_or_fetch(&emu_host_pending_signals, 1ull << (sig - 1), __ATOMIC_SEQ_CST);
    ucontext_t *uc = context;
    greg_t pc = uc->uc_mcontext.gregs[REG_RIP];
    if (pc >= (greg_t)emu_safe_syscall_start && pc < (greg_t)emu_safe_syscall_end)
        uc->uc_mcontext.gregs[REG_RIP] = (greg_t)emu_safe_syscall_interrupted;
}
#else
long emu_safe_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6) {
    if (emu_host_pending_signals & ~emu_guest_blocked_signals) return -512;
    return emu_raw_syscall(nr, a1, a2, a3, a4, a5, a6);
}
static void emu_forwarding_handler(int sig, siginfo_t *info, void *context) {
    (void)info; (void)context;
    __atomic_or_fetch(&emu_host_pending_signals, 1ull << (sig - 1), __ATOMIC_SEQ_CST);
}
#endif

int emu_forward_host_signal(int signo) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = emu_forwarding_handler;
    sa.sa_flags = SA_SIGINFO;
    sigfillset(&sa.sa_mask);
    return sigaction(signo, &sa, NULL);
}

uint64_t emu_take_host_signals(void) {
    return __atomic_exchange_n(&emu_host_pending_signals, 0, __ATOMIC_SEQ_CST);
}

const volatile uint64_t *emu_host_pending_signals_address(void) { return &emu_host_pending_signals; }
void emu_set_guest_blocked_signals(uint64_t mask) { __atomic_store_n(&emu_guest_blocked_signals, mask, __ATOMIC_SEQ_CST); }

void emu_set_host_blocked_signals(uint64_t forwarded, uint64_t blocked) {
    sigset_t block, unblock;
    sigemptyset(&block);
    sigemptyset(&unblock);
    for (int sig = 1; sig <= 64; sig++) {
        uint64_t bit = 1ull << (sig - 1);
        if (!(forwarded & bit)) continue;
        sigaddset((blocked & bit) ? &block : &unblock, sig);
    }
    pthread_sigmask(SIG_BLOCK, &block, NULL);
    pthread_sigmask(SIG_UNBLOCK, &unblock, NULL);
}
