#!/usr/bin/env python3
"""Peer for `scopepilot-bench drift`: scikit-image's phase_cross_correlation on the same frame pairs.

Reads DIR/pairs.json ({"pairs": [{"reference": path, "moving": path, "dx": ..., "dy": ...}]}: the
content of `moving` lies (dx, dy) pixels from that of `reference`), registers each pair with
upsample_factor 100, and prints one JSON object: mean seconds per pair and the mean and median
absolute error in pixels (Euclidean). scikit-image returns the shift that registers `moving` onto
`reference` as (row, column), which is minus the content's displacement.
"""
import json
import sys
import time

import numpy as np
from skimage.registration import phase_cross_correlation


def main():
    directory = sys.argv[1]
    with open(f"{directory}/pairs.json") as f:
        pairs = json.load(f)["pairs"]
    images = [(np.load(p["reference"]), np.load(p["moving"])) for p in pairs]
    phase_cross_correlation(images[0][0], images[0][1], upsample_factor=100)  # warm-up
    errors = []
    start = time.perf_counter()
    results = [phase_cross_correlation(r, m, upsample_factor=100)[0] for r, m in images]
    seconds = (time.perf_counter() - start) / len(images)
    for p, shift in zip(pairs, results):
        dy, dx = -shift[0], -shift[1]
        errors.append(float(np.hypot(dx - p["dx"], dy - p["dy"])))
    json.dump({"seconds": seconds, "mean_error": float(np.mean(errors)),
               "median_error": float(np.median(errors))}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
