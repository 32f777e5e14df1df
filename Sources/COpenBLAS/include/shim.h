#ifndef SCOPEPILOT_COPENBLAS_SHIM_H
#define SCOPEPILOT_COPENBLAS_SHIM_H
// OpenBLAS from Debian's libopenblas-dev; cblas.h is found through pkg-config "openblas".
#include <cblas.h>

/// Pins OpenBLAS to `n` threads. This machine gives about one core of floating-point throughput,
/// so ScopePilot runs OpenBLAS single-threaded unless a measurement says otherwise.
static inline void scopepilot_openblas_set_threads(int n) { openblas_set_num_threads(n); }
#endif
