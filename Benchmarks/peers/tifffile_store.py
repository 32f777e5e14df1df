"""The peer of `scopepilot-bench store`: tifffile writes the same uint16 frames as ScopePilot's
frames of record (one TIFF per channel, zlib level 1 after the horizontal predictor) and reads
ScopePilot's files back. Prints one JSON object."""
import glob
import json
import os
import sys
import time

import numpy as np
import tifffile

folder = sys.argv[1]
arrays = [(path, np.load(path)) for path in sorted(glob.glob(os.path.join(folder, "frame-*.npy")))]
out = os.path.join(folder, "tifffile")
os.makedirs(out, exist_ok=True)
start = time.perf_counter()
written = 0
for path, array in arrays:
    target = os.path.join(out, os.path.basename(path).replace(".npy", ".tif"))
    tifffile.imwrite(target, array, compression="zlib", compressionargs={"level": 1}, predictor=True)
    written += os.path.getsize(target)
seconds = time.perf_counter() - start
# ScopePilot's files must read back exactly as the arrays.
identical = True
for path, array in arrays:
    ours = os.path.join(folder, "scopepilot", os.path.basename(path).replace(".npy", ".tif"))
    identical = identical and np.array_equal(tifffile.imread(ours), array)
print(json.dumps({"seconds_per_file": seconds / len(arrays), "bytes": written, "identical": bool(identical)}))
