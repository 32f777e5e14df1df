#ifndef SCOPEPILOT_CLIBFUZZER_H
#define SCOPEPILOT_CLIBFUZZER_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver (compiler-rt, linked by -sanitize=fuzzer): parses libFuzzer's flags from
/// argv and calls `callback` once per input. The fuzz targets call it from their own entry point,
/// because SwiftPM links an executable's `main` to `<Module>_main`.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
