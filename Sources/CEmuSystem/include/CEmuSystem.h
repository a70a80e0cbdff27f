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

// For NinePServer's local back end: calls whose headers the Glibc module does not import.
/// fstatfs(2), flattened into out[0...8]: f_type, f_bsize, f_blocks, f_bfree, f_bavail, f_files,
/// f_ffree, f_fsid (both words, low first), f_namelen. Returns 0 or -1 with errno set.
int emu_fstatfs(int fd, uint64_t out[9]);
/// getxattr(2) (follows the path; used on /proc/self/fd/N magic links).
long emu_getxattr(const char *path, const char *name, void *value, size_t size);
/// listxattr(2).
long emu_listxattr(const char *path, char *list, size_t size);
/// setxattr(2).
int emu_setxattr(const char *path, const char *name, const void *value, size_t size, int flags);
/// removexattr(2).
int emu_removexattr(const char *path, const char *name);
/// preadv2(2) of one buffer with `flags` (e.g. RWF_NOWAIT); bytes read or -1 with errno.
long emu_preadv2(int fd, void *buffer, size_t count, int64_t offset, int flags);
/// openat2(2) with a struct open_how of `flags`, `mode`, `resolve` (e.g. RESOLVE_CACHED); the fd or
/// -1 with errno (ENOSYS where the kernel lacks it).
int emu_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);

// For BlockLayer's file driver.
/// fallocate(2) (Linux modes: FALLOC_FL_KEEP_SIZE 1, PUNCH_HOLE 2, ZERO_RANGE 16); 0 or -1 with errno.
int emu_fallocate(int fd, int mode, int64_t offset, int64_t length);

/// The O_DIRECT open flag (glibc declares it only under _GNU_SOURCE).
int emu_o_direct(void);

// For VhostUser's Unix socket (SCM_RIGHTS needs the CMSG_* macros, which Swift cannot import).
/// sendmsg(2) of `length` bytes with `fd_count` (at most 16) descriptors as SCM_RIGHTS, MSG_NOSIGNAL;
/// bytes sent or -1 with errno (EINVAL for too many descriptors).
long emu_send_with_fds(int socket, const void *bytes, size_t length, const int *fds, int fd_count);
/// recvmsg(2) of up to `length` bytes with MSG_CMSG_CLOEXEC; received descriptors (at most
/// `fd_capacity`, extra ones are closed) go to `fds` and their number to `*fd_count`. Returns bytes
/// read (0 at end of stream) or -1 with errno. Sets `*truncated` when control data was cut off.
long emu_recv_with_fds(int socket, void *bytes, size_t length, int *fds, int fd_capacity, int *fd_count,
                       int *truncated);

// For EmuLinuxUser: a guest's system call made on the host.
/// The raw Linux system call `nr` with six arguments; returns the kernel's result (a negative
/// errno on failure, errno itself untouched). Struct layouts are the host's (x86-64 Linux).
long emu_raw_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6);

/// Host signals forwarded to the guest are recorded per host thread (thread-local words: the
/// handler runs on the thread the kernel picked, and that thread's guest takes the signal).
/// Installs the forwarding handler for `signo` (SA_SIGINFO, no SA_RESTART, so a blocking host
/// call returns EINTR): it sets bit signo-1 of the calling thread's pending word. Returns 0 or
/// -1 with errno.
int emu_forward_host_signal(int signo);
/// The address of the calling thread's pending word (for a polling loop that must see the
/// handler's writes; valid while the thread lives).
const volatile uint64_t *emu_host_pending_signals_address(void);
/// Sets the calling thread's guest-blocked signals: pending ones among them do not interrupt
/// its safe system calls.
void emu_set_guest_blocked_signals(uint64_t mask);
/// Atomically takes and clears the calling thread's pending host signals.
uint64_t emu_take_host_signals(void);
/// Blocks, in the calling thread's host signal mask, exactly the signals of `forwarded` (bit n-1
/// for signal n) that are also in `blocked`, and unblocks the rest of `forwarded`; so the kernel
/// routes a process-directed signal to a thread whose guest does not block it.
void emu_set_host_blocked_signals(uint64_t forwarded, uint64_t blocked);
/// A system call that cannot lose a signal: it checks for a pending unblocked signal and then
/// executes SYSCALL, and the signal handler moves a thread caught between the check and the
/// SYSCALL instruction to an exit that returns -ERESTARTSYS (-512) instead of entering the
/// kernel. A signal that arrives inside the kernel makes the call return -EINTR.
long emu_safe_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6);
// For EmuTCG: SSE floating point run on the host CPU under the guest's MXCSR.
/// Host SSE operations (`emu_sse_execute`). Binary ones compute XMM0 op= XMM1 with XMM0 = dst and
/// XMM1 = src; CMP* and ROUND* take their immediate (0–7, 0–15), DPPS/DPPD theirs (0–255); CVTSI2* read the integer from src[0];
/// CVT(T)*2SI* write the (zero-extended) integer to dst[0]; (U)COMIS* write RFLAGS' low byte
/// (as LAHF reads it: SF ZF AF PF CF) to dst[0].
enum emu_sse_op {
    EMU_SSE_ADDPS,
    EMU_SSE_ADDPD,
    EMU_SSE_ADDSS,
    EMU_SSE_ADDSD,
    EMU_SSE_SUBPS,
    EMU_SSE_SUBPD,
    EMU_SSE_SUBSS,
    EMU_SSE_SUBSD,
    EMU_SSE_MULPS,
    EMU_SSE_MULPD,
    EMU_SSE_MULSS,
    EMU_SSE_MULSD,
    EMU_SSE_DIVPS,
    EMU_SSE_DIVPD,
    EMU_SSE_DIVSS,
    EMU_SSE_DIVSD,
    EMU_SSE_MINPS,
    EMU_SSE_MINPD,
    EMU_SSE_MINSS,
    EMU_SSE_MINSD,
    EMU_SSE_MAXPS,
    EMU_SSE_MAXPD,
    EMU_SSE_MAXSS,
    EMU_SSE_MAXSD,
    EMU_SSE_SQRTPS,
    EMU_SSE_SQRTPD,
    EMU_SSE_SQRTSS,
    EMU_SSE_SQRTSD,
    EMU_SSE_ADDSUBPS,
    EMU_SSE_ADDSUBPD,
    EMU_SSE_HADDPS,
    EMU_SSE_HADDPD,
    EMU_SSE_HSUBPS,
    EMU_SSE_HSUBPD,
    EMU_SSE_CMPPS,
    EMU_SSE_CMPPD,
    EMU_SSE_CMPSS,
    EMU_SSE_CMPSD,
    EMU_SSE_ROUNDPS,
    EMU_SSE_ROUNDPD,
    EMU_SSE_ROUNDSS,
    EMU_SSE_ROUNDSD,
    EMU_SSE_DPPS,
    EMU_SSE_DPPD,
    EMU_SSE_CVTSD2SS,
    EMU_SSE_CVTSS2SD,
    EMU_SSE_CVTPS2PD,
    EMU_SSE_CVTPD2PS,
    EMU_SSE_CVTDQ2PD,
    EMU_SSE_CVTDQ2PS,
    EMU_SSE_CVTPS2DQ,
    EMU_SSE_CVTTPS2DQ,
    EMU_SSE_CVTPD2DQ,
    EMU_SSE_CVTTPD2DQ,
    EMU_SSE_CVTSI2SSL,
    EMU_SSE_CVTSI2SSQ,
    EMU_SSE_CVTSI2SDL,
    EMU_SSE_CVTSI2SDQ,
    EMU_SSE_CVTSS2SI32,
    EMU_SSE_CVTSS2SI64,
    EMU_SSE_CVTTSS2SI32,
    EMU_SSE_CVTTSS2SI64,
    EMU_SSE_CVTSD2SI32,
    EMU_SSE_CVTSD2SI64,
    EMU_SSE_CVTTSD2SI32,
    EMU_SSE_CVTTSD2SI64,
    EMU_SSE_COMISS,
    EMU_SSE_COMISD,
    EMU_SSE_UCOMISS,
    EMU_SSE_UCOMISD,
    EMU_SSE_OP_COUNT
};
/// Runs `op` on the host with MXCSR = `mxcsr` with every exception masked and its flags cleared,
/// then restores the host's MXCSR. Returns the exception flags (MXCSR bits 0-5) the operation
/// raised. An unknown op or immediate out of range does nothing and returns 0.
uint32_t emu_sse_execute(int op, uint32_t imm, uint32_t mxcsr, uint64_t dst[2], const uint64_t src[2]);

#endif
