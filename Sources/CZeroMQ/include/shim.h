#ifndef SCOPEPILOT_CZEROMQ_SHIM_H
#define SCOPEPILOT_CZEROMQ_SHIM_H
// libzmq from Debian's libzmq3-dev. zmq.h lives in /usr/include, so no pkg-config
// (libzmq's .pc file adds an -isystem flag that SwiftPM refuses).
#include <zmq.h>
// eventfd wakes a socket thread that is waiting in zmq_poll.
#include <sys/eventfd.h>
#include <unistd.h>
#include <malloc.h>
#include <sys/prctl.h>

/// Names the calling thread (Linux keeps 15 bytes), so socket threads show in `top -H` and gdb.
/// prctl is variadic, which Swift cannot call directly.
static inline void scopepilot_name_this_thread(const char *name) { prctl(PR_SET_NAME, name, 0, 0, 0); }

/// Keeps freed buffers of up to `largest` bytes in the heap for reuse, instead of returning each
/// one to the kernel. libzmq allocates every received frame (megabytes) afresh; with glibc's
/// defaults each one is a new mapping that page-faults while the kernel copies the frame into it.
/// Returns 1 when glibc took both settings.
static inline int scopepilot_keep_large_buffers(int largest) {
    return mallopt(M_MMAP_THRESHOLD, largest) && mallopt(M_TRIM_THRESHOLD, 8 * largest);
}
#endif
