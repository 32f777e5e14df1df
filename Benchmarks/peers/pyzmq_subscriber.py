#!/usr/bin/env python3
"""Benchmark peer: a pyzmq + numpy subscriber doing what a daemon must do with each frame.

Receives without copying (copy=False), parses the JSON header, checks the payload size against
shape and dtype, and wraps the pixels as a numpy array (np.frombuffer, no copy). Prints one JSON
line: {"frames": N-1, "bytes": ..., "seconds": ...}, timed from the first frame to the last.
"""
import argparse
import json
import time

import numpy as np
import zmq

parser = argparse.ArgumentParser()
parser.add_argument("--endpoint", required=True)
parser.add_argument("--frames", type=int, required=True)
args = parser.parse_args()

sub = zmq.Context.instance().socket(zmq.SUB)
sub.setsockopt(zmq.RCVHWM, 64)
sub.setsockopt(zmq.SUBSCRIBE, b"frame")
sub.connect(args.endpoint)
dtypes = {"uint16": np.dtype("<u2"), "float32": np.dtype("<f4")}
received, total, expected_seq, checksum = 0, 0, None, 0.0
start = None
while received < args.frames:
    topic, header_part, *pixel_parts = sub.recv_multipart(copy=False)
    if start is None:
        start = time.perf_counter()
    header = json.loads(header_part.bytes)
    rows, cols = header["shape"]
    dtype = dtypes[header["dtype"]]
    if expected_seq is not None and header["seq"] != expected_seq:
        raise SystemExit(f"frame lost: expected seq {expected_seq}, got {header['seq']}")
    expected_seq = header["seq"] + 1
    for part in pixel_parts:
        buffer = part.buffer
        if len(buffer) != rows * cols * dtype.itemsize:
            raise SystemExit("payload size mismatch")
        image = np.frombuffer(buffer, dtype=dtype).reshape(rows, cols)
        checksum += float(image[rows // 2, cols // 2])
        if received > 0:
            total += len(buffer)
    received += 1
elapsed = time.perf_counter() - start
print(json.dumps({"frames": received - 1, "bytes": total, "seconds": elapsed}))
