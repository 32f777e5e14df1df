"""The log's exports opened by the field's tools, and `scopepilot replay` as a user runs it."""

import json
import os
import socket
import sqlite3
import subprocess
from pathlib import Path

import event_model
import numpy as np
import pytest
import tifffile
import xarray
import zarr

REPOSITORY = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("SCOPEPILOT_BINARY", REPOSITORY / ".build/release/scopepilot"))


def scopepilot(*arguments, **options):
    return subprocess.run([str(BINARY), *map(str, arguments)], check=True, capture_output=True, text=True,
                          timeout=300, **options)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A demo session recorded with --store-pixels: (log, session id)."""
    assert BINARY.is_file(), f"build the daemon first (make test does): no {BINARY}"
    path = tmp_path_factory.mktemp("recorded") / "demo.sqlite"
    scopepilot("demo", "--frames", "4", "--pixels", "128", "--db", path, "--store-pixels")
    session = sqlite3.connect(path).execute("SELECT id FROM sessions").fetchone()[0]
    return path, session


def test_the_zarr_export_opens_in_zarr_python_and_xarray(recorded, tmp_path):
    log, session = recorded
    store = tmp_path / "session.zarr"
    scopepilot("log", "export", session, "--db", log, "--format", "zarr", "--out", store)
    root = zarr.open_group(str(store), mode="r")
    assert root.attrs["id"] == session and root.attrs["policy"] == "raster-survey"
    (configuration,) = root["frames"].attrs["configurations"]
    frames = xarray.open_zarr(str(store), group=f"frames/{configuration}", consolidated=False)
    assert frames.HAADF.shape == (4, 128, 128) and frames.HAADF.dtype == np.uint16
    assert list(frames.seq.values) == [0, 1, 2, 3]
    # Pixel for pixel the frames of record.
    database = sqlite3.connect(log)
    for index, (files,) in enumerate(database.execute(
            "SELECT pixels_files FROM frames WHERE session_id = ? ORDER BY id", (session,))):
        for channel, relative in json.loads(files).items():
            assert np.array_equal(frames[channel].values[index], tifffile.imread(log.parent / relative))
    detections = xarray.open_zarr(str(store), group="detections", consolidated=False)
    count = database.execute("SELECT COUNT(*) FROM detections d JOIN frames f ON f.id = d.frame_id "
                             "WHERE f.session_id = ?", (session,)).fetchone()[0]
    assert detections.sizes.get("row", 0) == count
    decisions = xarray.open_zarr(str(store), group="decisions", consolidated=False)
    assert "raster region 1" in str(decisions.reason.values[0])


def test_the_bluesky_export_validates_against_event_model(recorded, tmp_path):
    log, session = recorded
    out = tmp_path / "session.jsonl"
    scopepilot("log", "export", session, "--db", log, "--format", "bluesky", "--out", out)
    documents = [json.loads(line) for line in out.read_text().splitlines()]
    for name, document in documents:
        event_model.schema_validators[event_model.DocumentNames[name]].validate(document)
    names = [name for name, _ in documents]
    assert names[0] == "start" and names[-1] == "stop"
    start = documents[0][1]
    descriptors = {d["uid"]: d for n, d in documents if n == "descriptor"}
    events = [d for n, d in documents if n == "event"]
    assert all(event["descriptor"] in descriptors for event in events)
    frames = [e for e in events if descriptors[e["descriptor"]]["name"] == "primary"]
    assert [e["seq_num"] for e in frames] == [1, 2, 3, 4]
    assert all(d["run_start"] == start["uid"] for d in descriptors.values())
    # Each image is a datum of a TIFF resource that exists.
    resources = {d["uid"]: d for n, d in documents if n == "resource"}
    datums = {d["datum_id"]: d for n, d in documents if n == "datum"}
    for event in frames:
        for channel in ("HAADF", "MAADF"):
            resource = resources[datums[event["data"][channel]]["resource"]]
            assert (Path(resource["root"]) / resource["resource_path"]).is_file()
    stop = documents[-1][1]
    assert stop["exit_status"] == "success" and stop["num_events"]["primary"] == 4


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_recorded_demo_replays_through_scopepilot_run_with_another_policy(recorded, tmp_path):
    log, session = recorded
    feed, control = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    driver = subprocess.Popen([str(BINARY), "replay", str(log), "--feed", feed, "--control", control],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        policy = tmp_path / "zoom.yaml"
        policy.write_text("policy: raster-survey\nparameters: {columns: 2, rows: 3, fov_nm: 3.2, pixels: 160}\n")
        replayed = tmp_path / "replayed.sqlite"
        scopepilot("run", "--feed", feed, "--control", control, "--db", replayed, "--policy", policy,
                   "--model", "all", "--store-pixels")
    finally:
        driver.terminate()
        output, _ = driver.communicate(timeout=30)
    assert "4 frames served" in output, output
    database = sqlite3.connect(replayed)
    (new_session, replays, status, reason) = database.execute(
        "SELECT id, replays, status, end_reason FROM sessions").fetchone()
    assert json.loads(replays)["session"] == session and status == "finished" and "replay is over" in reason
    recorded_files = dict(sqlite3.connect(log).execute(
        "SELECT 'session ' || session_id || ', driver session ' || driver_session || ', seq ' || seq, pixels_files "
        "FROM frames"))
    rows = database.execute("SELECT source, pixels_files FROM frames WHERE session_id = ?", (new_session,)).fetchall()
    assert len(rows) == 4
    for source, files in rows:
        for channel, relative in json.loads(files).items():
            original = json.loads(recorded_files[source])[channel]
            assert np.array_equal(tifffile.imread(replayed.parent / relative), tifffile.imread(log.parent / original))
    orphans = database.execute("SELECT COUNT(*) FROM commands c LEFT JOIN decisions d ON d.id = c.decision_id "
                               "WHERE d.id IS NULL").fetchone()[0]
    assert orphans == 0


def test_a_folder_of_tiffs_from_tifffile_plays_as_a_microscope(tmp_path):
    """Frames another tool wrote (tifffile, ImageJ calibration), positions from a CSV, compared
    by `policy eval --replay`: the raster's regions lie inside the frames and are served cropped."""
    rng = np.random.default_rng(3)
    folder = tmp_path / "frames"
    folder.mkdir()
    rows = ["file,x_nm,y_nm"]
    for index, (x, y) in enumerate([(-120.0, 60.0), (-113.6, 60.0)]):
        image = rng.poisson(200, size=(256, 256)).astype(np.uint16)
        # ImageJ's calibration: 0.25 Å = 0.025 nm per pixel.
        tifffile.imwrite(folder / f"frame{index}.tif", image, imagej=True, resolution=(40.0, 40.0),
                         metadata={"unit": "nm"})
        rows.append(f"frame{index}.tif,{x},{y}")
    (folder / "positions.csv").write_text("\n".join(rows) + "\n")
    policy = tmp_path / "raster.yaml"
    policy.write_text("policy: raster-survey\n"
                      "parameters: {center_nm: [-116.8, 60], columns: 3, rows: 1, fov_nm: 3.2, pixels: 128}\n")
    result = scopepilot("policy", "eval", policy, "--replay", folder, "--model", "none", "--keep", tmp_path / "logs")
    assert "2 frames, served by region" in result.stdout, result.stdout
    database = sqlite3.connect(next((tmp_path / "logs").glob("*.sqlite")))
    sources = [row[0] for row in database.execute("SELECT source FROM frames ORDER BY id")]
    assert len(sources) >= 2 and set(sources) <= {"frame0.tif", "frame1.tif"}, sources
    replays = json.loads(database.execute("SELECT replays FROM sessions").fetchone()[0])
    assert replays["folder"] == str(folder) and replays["mode"] == "region"
