"""Vendor image files to TIFFs that ScopePilot reads, through RosettaSciIO.

ScopePilot reads .npy, TIFF, PNG and Gatan .dm3/.dm4 natively. Every other format RosettaSciIO
knows (Velox and Berkeley .emd, FEI .ser/.emi, .mrc, HyperSpy .hspy, blockfiles, ...) is converted
here: each image in the file (a 2-D signal, or a stack of them) becomes a float32 ImageJ TIFF whose
calibration carries the file's pixel size, so `scopepilot detect` and `scopepilot segment` use it.

    python -m scopepilot convert FILE... [--out DIR]

Needs the ``formats`` extra: ``pip install 'scopepilot[formats]'`` (rosettasciio, tifffile, h5py).
"""

import argparse
import pathlib
import sys
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

# Ångström per unit, for the spellings RosettaSciIO reports.
_ANGSTROM = {"Å": 1.0, "A": 1.0, "pm": 0.01, "nm": 10.0, "µm": 1e4, "um": 1e4, "μm": 1e4, "mm": 1e7, "m": 1e10}


class ConversionError(Exception):
    """A file that cannot be converted, with the reason."""


@dataclass
class VendorImage:
    """One image (or stack) of a vendor file."""

    frames: np.ndarray
    """(frames, rows, columns), float32."""
    pixel_size_angstrom: Optional[float]
    """The x axis's calibration in Å; None when the file has none in a length unit."""
    title: str


def read(path) -> List[VendorImage]:
    """Every image signal in ``path`` (2-D, or a stack of 2-D frames), read with RosettaSciIO."""
    try:
        import rsciio
    except ImportError as error:
        raise ConversionError(
            "RosettaSciIO is not installed: pip install 'scopepilot[formats]'") from error
    path = pathlib.Path(path)
    extension = path.suffix.lstrip(".").lower()
    plugins = [p for p in rsciio.IO_PLUGINS if extension in [e.lower() for e in p["file_extensions"]]]
    if not plugins:
        raise ConversionError(f"{path}: no RosettaSciIO reader takes '.{extension}' files")
    import importlib

    errors = []
    for plugin in plugins:
        try:
            reader = importlib.import_module(plugin["api"]).file_reader
            signals = reader(str(path))
            break
        except Exception as error:  # each plugin's own exception types
            errors.append(f"{plugin['name']}: {error}")
    else:
        raise ConversionError(f"{path}: unreadable ({'; '.join(errors)})")
    images = []
    for signal in signals:
        data = np.asarray(signal["data"])
        axes = signal["axes"]
        title = str(signal.get("metadata", {}).get("General", {}).get("title", "") or "")
        if np.iscomplexobj(data) or data.dtype.kind not in "biuf":
            continue
        # Signal axes are the image's; at most one navigation axis (a stack of frames).
        spatial = [a for a in axes if not a.get("navigate", False)]
        if data.ndim == 2:
            frames = data[np.newaxis]
        elif data.ndim == 3 and len(spatial) == 2:
            frames = data
        else:
            continue
        x_axis = axes[-1]
        factor = _ANGSTROM.get(str(x_axis.get("units") or "").strip())
        scale = float(x_axis.get("scale", 1.0))
        pixel = abs(scale) * factor if factor else None
        images.append(VendorImage(frames.astype(np.float32), pixel, title))
    if not images:
        raise ConversionError(f"{path}: holds no 2-D image or stack of images (spectra, 4-D data or complex FFTs only)")
    return images


def write_tiff(image: VendorImage, target) -> None:
    """An ImageJ TIFF of ``image``: float32, one page per frame, the pixel size in nm."""
    import tifffile

    kwargs = {}
    if image.pixel_size_angstrom:
        per_nm = 10.0 / image.pixel_size_angstrom
        kwargs = {"resolution": (per_nm, per_nm), "metadata": {"unit": "nm", "axes": "ZYX"}}
    else:
        kwargs = {"metadata": {"axes": "ZYX"}}
    tifffile.imwrite(str(target), image.frames, imagej=True, **kwargs)


def convert(path, out: Optional[pathlib.Path] = None) -> List[pathlib.Path]:
    """Converts ``path``; returns the TIFFs written (STEM.tif, or STEM-N.tif for several images)."""
    path = pathlib.Path(path)
    images = read(path)
    folder = pathlib.Path(out) if out else path.parent
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for index, image in enumerate(images):
        name = f"{path.stem}.tif" if len(images) == 1 else f"{path.stem}-{index + 1}.tif"
        target = folder / name
        write_tiff(image, target)
        written.append(target)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scopepilot convert",
        description="Vendor image files (.emd, .ser, .mrc, ...) to TIFFs ScopePilot reads, with their pixel size.")
    parser.add_argument("files", nargs="+", help="files RosettaSciIO reads")
    parser.add_argument("--out", type=pathlib.Path, help="folder for the TIFFs (default: beside each file)")
    arguments = parser.parse_args(argv)
    failures = 0
    for file in arguments.files:
        try:
            for target, image in zip(convert(file, arguments.out), read(file)):
                size = f"{image.pixel_size_angstrom:.4g} Å/px" if image.pixel_size_angstrom else "no pixel size"
                print(f"{file} -> {target}: {image.frames.shape[0]} frame(s) of "
                      f"{image.frames.shape[2]} x {image.frames.shape[1]}, {size}"
                      + (f" ({image.title})" if image.title else ""))
        except ConversionError as error:
            failures += 1
            print(f"python -m scopepilot convert: {error}", file=sys.stderr)
    return 1 if failures else 0
