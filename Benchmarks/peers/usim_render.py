#!/usr/bin/env python3
"""Benchmark peer: time nionswift-usim's scan image generator (a benchmark peer only, never bundled).

Sets up usim the way its own tests do and times ScanDevice.get_scan_data for 512x512 and 1024x1024
frames at 1 us dwell (its data do not depend on dwell). Prints one line per case, best of --repeats.
"""
import argparse
import time
import typing

from nion.instrumentation import scan_base
from nion.instrumentation.test import AcquisitionTestContext
from nion.swift.test import TestContext
from nion.device_kit import ScanDevice
from nion.usim_device import DeviceConfiguration
from nion.usim_device import ScanDevice as ScanDevice_

parser = argparse.ArgumentParser()
parser.add_argument("--repeats", type=int, default=5)
args = parser.parse_args()

AcquisitionTestContext.begin_leaks()
setup = TestContext.TestSetup()  # usim's own tests make this first: it registers the UI pieces
with AcquisitionTestContext.AcquisitionTestContext(DeviceConfiguration.AcquisitionContextConfiguration()) as context:
    instrument = typing.cast(typing.Any, context.instrument)
    scan = ScanDevice.Device("bench_scan", "bench", instrument, ScanDevice_.ScanBoxSimulator(instrument.scan_data_generator))
    for size, fov in [(512, 10.24), (1024, 20.48), (1024, 1024.0)]:
        parameters = scan_base.ScanFrameParameters({"pixel_size": (size, size), "pixel_time_us": 20, "fov_nm": fov})
        scan.get_scan_data(parameters, 0)
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            data = scan.get_scan_data(parameters, 0)
            best = min(best, time.perf_counter() - start)
        print(f"nionswift-usim {size}x{size} ({fov} nm)      {best * 1000:8.1f} ms   shape {data.shape}")
