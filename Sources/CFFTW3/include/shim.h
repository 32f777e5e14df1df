#ifndef SCOPEPILOT_CFFTW3_SHIM_H
#define SCOPEPILOT_CFFTW3_SHIM_H
// FFTW3, single precision (libfftw3f), from Debian's libfftw3-dev.
// complex.h must not be included before fftw3.h: fftwf_complex stays float[2].
#include <fftw3.h>

/// fftwf_version is a data symbol Swift cannot import directly.
static inline const char *scopepilot_fftwf_version(void) { return fftwf_version; }
#endif
