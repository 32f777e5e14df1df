"""Vendor files through RosettaSciIO into TIFFs the daemon's readers take, with their pixel size."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import tifffile

from scopepilot.convert import ConversionError, convert, read

REPOSITORY = Path(__file__).resolve().parents[2]
FIXTURES = REPOSITORY / "Tests/Fixtures"
BINARY = Path(os.environ.get("SCOPEPILOT_BINARY", REPOSITORY / ".build/release/scopepilot"))


def test_velox_stack_becomes_a_two_page_tiff_with_its_calibration(tmp_path):
    written = convert(FIXTURES / "formats/rosettasciio/fei_example_tem_stack.emd", tmp_path)
    assert [p.name for p in written] == ["fei_example_tem_stack.tif"]
    with tifffile.TiffFile(written[0]) as tiff:
        pages = tiff.asarray()
        assert pages.shape == (2, 3, 3)
        assert tiff.imagej_metadata["unit"] == "nm"
        numerator, denominator = tiff.pages[0].tags["XResolution"].value
    from rsciio.emd import file_reader

    original = file_reader(str(FIXTURES / "formats/rosettasciio/fei_example_tem_stack.emd"))[0]
    np.testing.assert_array_equal(pages, original["data"].astype(np.float32))
    assert abs(10.0 / (numerator / denominator) - 0.08172883) < 1e-5  # 8.17 pm


def test_the_daemon_reads_a_converted_file_at_the_file_s_pixel_size(tmp_path):
    """An abTEM image saved as a Berkeley EMD at 0.2 Å/px, converted, then detected with no --pixel-size."""
    from rsciio.emd import file_writer

    image = np.load(FIXTURES / "abtem/detection/d0-in-focus-1e4-HAADF.npy").astype(np.float32)
    source = tmp_path / "frame.emd"
    axes = [{"name": n, "size": s, "scale": 0.02, "offset": 0.0, "units": "nm", "navigate": False}
            for n, s in (("y", image.shape[0]), ("x", image.shape[1]))]
    file_writer(str(source), {"data": image, "axes": axes, "metadata": {"General": {"title": "HAADF"}, "Signal": {"signal_type": ""}},
                              "original_metadata": {}})
    [tiff] = convert(source)
    assert tiff == tmp_path / "frame.tif"
    result = subprocess.run([str(BINARY), "detect", str(tiff)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["pixel_size_angstrom"] == 0.2
    assert output["pixel_size_source"] == "the file's ImageJ metadata"
    assert len(output["defects"]) > 5


def test_a_file_without_images_is_refused_with_the_reason(tmp_path):
    text = tmp_path / "notes.emd"
    text.write_text("not HDF5")
    try:
        read(text)
    except ConversionError as error:
        assert "notes.emd" in str(error)
    else:
        raise AssertionError("a text file was read as an EMD")


def test_the_command_line_says_what_it_wrote(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "scopepilot", "convert",
         str(FIXTURES / "formats/rosettasciio/fei_example_tem_stack.emd"), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "2 frame(s) of 3 x 3" in result.stdout and "0.08173 Å/px" in result.stdout
    refused = subprocess.run([sys.executable, "-m", "scopepilot", "convert", str(tmp_path / "missing.xyz")],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "no RosettaSciIO reader takes '.xyz'" in refused.stderr
