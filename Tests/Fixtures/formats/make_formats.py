#!/usr/bin/env python3
"""Image files written by the tools users have, for ScopePilot's readers to be tested on.

Every file holds the same small image (or a series of it, each page offset by its index), so a
reader's result can be compared with `reference.npy` exactly. `manifest.json` lists each file with
what a reader must find in it: the number of frames, the pixel size its calibration gives (Å; null
when it carries none) and the tool that wrote it. The image is 32 x 20, not square, so a transposed
read fails; its values span 0 ... 4095, so 8-bit files hold the values modulo 256.

Written with tifffile (TIFF: compression, predictors, tiles, pages, BigTIFF, ImageJ and OME
metadata, resolution tags, both byte orders) and Pillow (PNG of every grayscale kind, TIFF with
Pillow's own compressors). The Gatan .dm3/.dm4 and Velox .emd files in rosettasciio/ are
RosettaSciIO's public test files (see rosettasciio/README.md), since no Python package writes
those formats.

    python3 -m venv /tmp/formats-venv
    /tmp/formats-venv/bin/pip install tifffile==2026.3.3 imagecodecs==2026.3.6 pillow==13.0.0 \\
        rosettasciio==0.15.0 numpy
    /tmp/formats-venv/bin/python Tests/Fixtures/formats/make_formats.py
"""

import json
import pathlib

import numpy as np
import tifffile
from PIL import Image

HERE = pathlib.Path(__file__).resolve().parent
WIDTH, HEIGHT = 32, 20
PIXEL_NM = 0.025  # the calibration written where a format carries one


def reference() -> np.ndarray:
    """A pattern with structure in both directions and values 0 ... 4095."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    return ((x * 97 + y * 131 + (x * y) % 7 * 301) % 4096).astype(np.float32)


def main() -> None:
    base = reference()
    np.save(HERE / "reference.npy", base)
    entries = []

    def add(name, tool, frames=1, pixel_size=None, modulo=None, scale=1.0):
        entries.append(
            {
                "file": name,
                "tool": tool,
                "frames": frames,
                "pixel_size_angstrom": pixel_size,
                "modulo": modulo,
                "scale": scale,
            }
        )

    u16 = base.astype(np.uint16)
    u8 = (base % 256).astype(np.uint8)
    angstrom = PIXEL_NM * 10
    tv = f"tifffile {tifffile.__version__}"

    # tifffile: every compression ScopePilot reads, with and without predictors.
    tifffile.imwrite(HERE / "tifffile-u16-deflate.tif", u16, compression="zlib")
    add("tifffile-u16-deflate.tif", tv)
    tifffile.imwrite(HERE / "tifffile-u16-lzw.tif", u16, compression="lzw")
    add("tifffile-u16-lzw.tif", tv)
    tifffile.imwrite(HERE / "tifffile-u8-packbits.tif", u8, compression="packbits")
    add("tifffile-u8-packbits.tif", tv, modulo=256)
    tifffile.imwrite(HERE / "tifffile-u16-lzw-predictor.tif", u16, compression="lzw", predictor=True)
    add("tifffile-u16-lzw-predictor.tif", tv)
    tifffile.imwrite(
        HERE / "tifffile-f32-deflate-fppredictor.tif", base - 1000.5, compression="zlib", predictor=3
    )
    add("tifffile-f32-deflate-fppredictor.tif", tv, scale=1.0)
    tifffile.imwrite(HERE / "tifffile-i16-bigendian.tif", (base - 2048).astype(">i2"), byteorder=">")
    add("tifffile-i16-bigendian.tif", tv)
    tifffile.imwrite(HERE / "tifffile-f64.tif", base.astype(np.float64) / 8)
    add("tifffile-f64.tif", tv, scale=0.125)
    tifffile.imwrite(HERE / "tifffile-u32-lzw.tif", base.astype(np.uint32) * 1000, compression="lzw")
    add("tifffile-u32-lzw.tif", tv, scale=1000)
    tifffile.imwrite(HERE / "tifffile-f16.tif", (base / 16).astype(np.float16))
    add("tifffile-f16.tif", tv, scale=1 / 16)
    # Tiles of 16 x 16: the 32 x 20 image needs partial tiles at the bottom.
    tifffile.imwrite(HERE / "tifffile-u16-tiled-deflate.tif", u16, tile=(16, 16), compression="zlib")
    add("tifffile-u16-tiled-deflate.tif", tv)
    # Several strips.
    tifffile.imwrite(HERE / "tifffile-u16-strips.tif", u16, rowsperstrip=3)
    add("tifffile-u16-strips.tif", tv)
    # BigTIFF.
    tifffile.imwrite(HERE / "tifffile-f32-bigtiff.tif", base, bigtiff=True, compression="zlib")
    add("tifffile-f32-bigtiff.tif", tv)
    # Series: 5 pages, page k is the image + k; with the calibration in ImageJ's metadata.
    series = np.stack([u16 + k for k in range(5)])
    tifffile.imwrite(
        HERE / "tifffile-imagej-series.tif",
        series,
        imagej=True,
        resolution=(1 / PIXEL_NM, 1 / PIXEL_NM),
        metadata={"unit": "nm", "axes": "ZYX"},
    )
    add("tifffile-imagej-series.tif", tv, frames=5, pixel_size=angstrom)
    # ImageJ's micrometre spelling.
    tifffile.imwrite(
        HERE / "tifffile-imagej-micron.tif",
        u16,
        imagej=True,
        resolution=(1 / (PIXEL_NM / 1000), 1 / (PIXEL_NM / 1000)),
        metadata={"unit": "micron"},
    )
    add("tifffile-imagej-micron.tif", tv, pixel_size=angstrom)
    # OME-TIFF, 3 planes, the calibration in the OME-XML.
    tifffile.imwrite(
        HERE / "tifffile-ome-series.ome.tif",
        np.stack([u16 + k for k in range(3)]),
        ome=True,
        compression="zlib",
        metadata={
            "axes": "ZYX",
            "PhysicalSizeX": PIXEL_NM,
            "PhysicalSizeXUnit": "nm",
            "PhysicalSizeY": PIXEL_NM,
            "PhysicalSizeYUnit": "nm",
        },
    )
    add("tifffile-ome-series.ome.tif", tv, frames=3, pixel_size=angstrom)
    # Plain resolution tags in pixels per centimetre.
    per_cm = 1 / (PIXEL_NM * 1e-7)
    tifffile.imwrite(
        HERE / "tifffile-resolution-cm.tif", u16, resolution=(per_cm, per_cm), resolutionunit="CENTIMETER"
    )
    add("tifffile-resolution-cm.tif", tv, pixel_size=angstrom)

    # Pillow: PNG of every grayscale kind, and its own TIFF compressors.
    import PIL

    pv = f"Pillow {PIL.__version__}"
    Image.fromarray(u8).save(HERE / "pillow-gray8.png")
    add("pillow-gray8.png", pv, modulo=256)
    Image.fromarray(u16).save(HERE / "pillow-gray16.png")
    add("pillow-gray16.png", pv)
    Image.fromarray(np.stack([u8] * 3, axis=-1)).save(HERE / "pillow-rgb-gray.png")
    add("pillow-rgb-gray.png", pv, modulo=256)
    Image.fromarray(u8).convert("LA").save(HERE / "pillow-gray-alpha.png")
    add("pillow-gray-alpha.png", pv, modulo=256)
    Image.fromarray(u8).convert("P").save(HERE / "pillow-palette.png")
    add("pillow-palette.png", pv, modulo=256)
    # Optimised PNG: Pillow picks per-row filters (sub, up, average, Paeth).
    Image.fromarray(u8).save(HERE / "pillow-gray8-optimised.png", optimize=True)
    add("pillow-gray8-optimised.png", pv, modulo=256)
    for compression in ["tiff_lzw", "tiff_adobe_deflate", "packbits"]:
        name = f"pillow-u8-{compression}.tif"
        Image.fromarray(u8).save(HERE / name, compression=compression)
        add(name, pv, modulo=256)
    Image.fromarray(u16).save(HERE / "pillow-u16-deflate.tif", compression="tiff_adobe_deflate")
    add("pillow-u16-deflate.tif", pv)
    # A colour PNG whose channels differ is not an image ScopePilot can take; the reader must say so.
    colour = np.stack([u8, 255 - u8, u8 // 2], axis=-1)
    Image.fromarray(colour).save(HERE / "pillow-colour.png")

    (HERE / "manifest.json").write_text(json.dumps({"files": entries}, indent=1) + "\n")
    print(f"wrote {len(entries)} files and manifest.json to {HERE}")
    describe_rosettasciio()


UNIT_ANGSTROM = {"nm": 10.0, "µm": 1e4, "um": 1e4, "pm": 0.01, "Å": 1.0, "A": 1.0}


def describe_rosettasciio() -> None:
    """What RosettaSciIO itself reads from each file in rosettasciio/: the reference a native reader
    is held to (shape, every pixel, the calibration in Å)."""
    try:
        from rsciio.digitalmicrograph import file_reader
    except ImportError:
        print("rosettasciio is not installed: rosettasciio/expected.json left as it is")
        return
    folder = HERE / "rosettasciio"
    expected = {}
    for path in sorted(folder.glob("*.dm[34]")):
        signal = file_reader(str(path))[0]
        data = signal["data"]
        x_axis = signal["axes"][-1]
        factor = UNIT_ANGSTROM.get(x_axis.get("units") or "")
        expected[path.name] = {
            "shape": list(data.shape),
            "dtype": str(data.dtype),
            "pixels": data.astype(np.float64).ravel().tolist(),
            "pixel_size_angstrom": float(x_axis["scale"]) * factor if factor else None,
        }
    (folder / "expected.json").write_text(json.dumps(expected) + "\n")
    print(f"described {len(expected)} Gatan files in rosettasciio/expected.json")


if __name__ == "__main__":
    main()
