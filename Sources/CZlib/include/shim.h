#ifndef SCOPEPILOT_CZLIB_SHIM_H
#define SCOPEPILOT_CZLIB_SHIM_H
// zlib from Debian's zlib1g-dev: the deflate of compressed TIFF and of PNG.
#include <zlib.h>
#endif
