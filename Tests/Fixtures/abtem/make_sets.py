#!/usr/bin/env python3
"""Labelled WSe2 image sets made with abTEM, a multislice simulator that is not ScopePilot's.

ScopePilot's detector and segmentation were developed on its own virtual microscope; these sets
check them on images it did not make. Two sets, in the labelled-set format that
`scopepilot eval-detector --set DIR` and `scopepilot eval-segmentation --set DIR` read
(docs/LABELLED_SETS.md):

  detection/     monolayer WSe2 with single defects (Se1, Se2, W vacancies) on pristine lattice
  segmentation/  frames with regions: pristine, vacancy-rich, damaged (amorphised), holes and
                 hydrocarbon contamination, from about 2 nm across to the whole frame

Each structure is simulated once with abTEM's PRISM algorithm (HAADF and MAADF), noise-free, and
cached; every frame is then that image at a dose (Poisson), with detector read noise and scan
distortions (line jitter and a drift shear), its labels moved with the pixels. The simulation is
slow (minutes per structure on one core): the sets are committed, and this script only needs to
run when they change.

    python3 -m venv /tmp/abtem-venv && /tmp/abtem-venv/bin/pip install abtem==1.0.11
    /tmp/abtem-venv/bin/python Tests/Fixtures/abtem/make_sets.py [--only detection|segmentation]
"""

import argparse
import json
import math
import pathlib
import sys
import time

import numpy as np

ABTEM_VERSION = "1.0.11"
A = 3.282  # WSe2 lattice constant, Å
SE_HALF_HEIGHT = 1.67  # Se above and below the W plane, Å
ENERGY = 80e3  # eV
SEMIANGLE = 25.0  # mrad
HAADF = (60.0, 135.0)  # mrad; the potential's sampling (0.1 Å) simulates to about 139 mrad
MAADF = (30.0, 60.0)
MARGIN = 6.0  # Å of the periodic cell left out of the frame on every side: seams and wrap-around
REGIONS = ["pristine", "vacancy-rich", "damaged", "hole", "contamination"]
LATTICE_LIKE = ["pristine", "vacancy-rich", "contamination"]
DOSES = [3e3, 1e4, 3e4, 1e5]  # e/Å²
READ_NOISE = 0.8  # counts
BASELINE = 20  # counts added before storing as uint16


# ---------------------------------------------------------------------------------------------
# Structures


class Structure:
    """A monolayer of WSe2 in a periodic cell, its sites, and what was done to them."""

    def __init__(self, extent, rotation, rng):
        self.extent = extent
        a1 = np.array([A, 0.0])
        a2 = np.array([A / 2, A * math.sqrt(3) / 2])
        c, s = math.cos(rotation), math.sin(rotation)
        rot = np.array([[c, -s], [s, c]])
        n = int(math.ceil(extent * 1.5 / A)) + 2
        i, j = np.meshgrid(np.arange(-n, n), np.arange(-n, n), indexing="ij")
        w = (i.reshape(-1, 1) * a1 + j.reshape(-1, 1) * a2) - extent * 0.25
        se = w + (a1 + a2) / 3
        offset = rng.uniform(0, A, size=2)
        centre = np.array([extent / 2, extent / 2])
        w = (w - centre) @ rot.T + centre + offset
        se = (se - centre) @ rot.T + centre + offset
        inside = lambda p: (p[:, 0] >= 0) & (p[:, 0] < extent) & (p[:, 1] >= 0) & (p[:, 1] < extent)
        self.w = w[inside(w)]
        self.se = se[inside(se)]
        self.w_present = np.ones(len(self.w), bool)
        self.se_present = np.ones((len(self.se), 2), bool)  # top, bottom
        self.extra = []  # (symbol, x, y, z) of atoms that are not lattice (amorphous, carbon)

    def defects(self):
        """(type, x, y) in Å of every defect site."""
        out = []
        for (x, y), present in zip(self.se, self.se_present):
            missing = 2 - int(present.sum())
            if missing:
                out.append(("Se1" if missing == 1 else "Se2", float(x), float(y)))
        for (x, y), present in zip(self.w, self.w_present):
            if not present:
                out.append(("W", float(x), float(y)))
        return out

    def atoms(self):
        import ase

        z0 = 6.0
        symbols, positions = [], []
        for (x, y), present in zip(self.w, self.w_present):
            if present:
                symbols.append("W")
                positions.append((x, y, z0))
        for (x, y), (top, bottom) in zip(self.se, self.se_present):
            if top:
                symbols.append("Se")
                positions.append((x, y, z0 + SE_HALF_HEIGHT))
            if bottom:
                symbols.append("Se")
                positions.append((x, y, z0 - SE_HALF_HEIGHT))
        for symbol, x, y, z in self.extra:
            symbols.append(symbol)
            positions.append((x, y, z0 + z))
        top = max(p[2] for p in positions)
        return ase.Atoms(symbols, positions, cell=[self.extent, self.extent, top + 4.0], pbc=True)


def point_defects(structure, rng, se1=0.04, se2=0.01, w=0.01, mask=None):
    """Single defects at the given fractions of sites (sites inside `mask(x, y)` only)."""
    for index, (x, y) in enumerate(structure.se):
        if mask is not None and not mask(x, y):
            continue
        u = rng.uniform()
        if u < se1:
            structure.se_present[index, rng.integers(2)] = False
        elif u < se1 + se2:
            structure.se_present[index] = False
    for index, (x, y) in enumerate(structure.w):
        if (mask is None or mask(x, y)) and rng.uniform() < w:
            structure.w_present[index] = False


def blob(rng, extent, radius):
    """A region shaped like a smooth blob: centre, and a radius that varies with the angle."""
    cx, cy = rng.uniform(0.15 * extent, 0.85 * extent, size=2)
    harmonics = [(k, rng.uniform(0, 0.12), rng.uniform(0, 2 * math.pi)) for k in (2, 3, 5)]

    def contains(x, y):
        angle = np.arctan2(y - cy, x - cx)
        r = radius * (1 + sum(a * np.sin(k * angle + p) for k, a, p in harmonics))
        return np.hypot(x - cx, y - cy) <= r

    return contains


def amorphous(rng, area_mask, extent, count, symbols, z_range, min_distance):
    """`count` atoms placed at random in the mask's area, no two closer than `min_distance` Å."""
    placed = []
    cells = {}
    size = min_distance
    tries = 0
    while len(placed) < count and tries < count * 60:
        tries += 1
        x, y = rng.uniform(0, extent, size=2)
        if not area_mask(x, y):
            continue
        z = rng.uniform(*z_range)
        key = (int(x // size), int(y // size), int(z // size))
        close = False
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for dz in (-1, 0, 1):
                    for px, py, pz in cells.get((key[0] + dx, key[1] + dy, key[2] + dz), []):
                        if (px - x) ** 2 + (py - y) ** 2 + (pz - z) ** 2 < min_distance**2:
                            close = True
        if close:
            continue
        cells.setdefault(key, []).append((x, y, z))
        placed.append((symbols[len(placed) % len(symbols)], x, y, z))
    return placed


def regions_structure(extent, rng, patches):
    """A frame of pristine lattice with `patches` regions of the other kinds; also the region of
    every point, as a function."""
    structure = Structure(extent, rng.uniform(0, math.pi / 3), rng)
    shapes = []
    for kind, radius in patches:
        shapes.append((kind, blob(rng, extent, radius)))

    def region(x, y):
        label = np.zeros(np.broadcast(x, y).shape, np.uint8)
        for kind, contains in shapes:
            label[contains(x, y)] = REGIONS.index(kind)
        return label

    site_w = region(structure.w[:, 0], structure.w[:, 1])
    site_se = region(structure.se[:, 0], structure.se[:, 1])
    kinds = {kind for kind, _ in patches}
    if "vacancy-rich" in kinds:
        code = REGIONS.index("vacancy-rich")
        for index in np.flatnonzero(site_se == code):
            structure.se_present[index] = rng.uniform(size=2) > 0.15
        structure.w_present[(site_w == code) & (rng.uniform(size=len(site_w)) < 0.03)] = False
    for kind in ("damaged", "hole"):
        if kind in kinds:
            code = REGIONS.index(kind)
            structure.w_present[site_w == code] = False
            structure.se_present[site_se == code] = False
    # A little point damage everywhere else, as in any real sample.
    pristine = REGIONS.index("pristine")
    point_defects(structure, rng, se1=0.01, se2=0.002, w=0.002, mask=lambda x, y: region(x, y) == pristine)
    if "damaged" in kinds:
        code = REGIONS.index("damaged")
        mask = lambda x, y: region(x, y) == code
        area = float(np.mean(region(*np.meshgrid(np.linspace(0, extent, 200), np.linspace(0, extent, 200))) == code))
        count = int(0.85 * 3 * area * extent**2 / (A * A * math.sqrt(3) / 2))
        structure.extra += amorphous(rng, mask, extent, count, ["W", "Se", "Se"], (-2.5, 2.5), 2.3)
    if "contamination" in kinds:
        code = REGIONS.index("contamination")
        mask = lambda x, y: region(x, y) == code
        area = float(np.mean(region(*np.meshgrid(np.linspace(0, extent, 200), np.linspace(0, extent, 200))) == code))
        thickness = rng.uniform(8, 14)
        count = int(0.09 * area * extent**2 * thickness)
        structure.extra += amorphous(
            rng, mask, extent, count, ["C", "C", "C", "H"], (3.5, 3.5 + thickness), 1.25)
    return structure, region


# ---------------------------------------------------------------------------------------------
# Simulation


def simulate(structure, probes, cache):
    """Noise-free HAADF and MAADF images (fractions of the beam), one per probe condition, as
    {probe name: (haadf, maadf, sampling)}; cached by `cache` path."""
    import abtem

    if cache.exists():
        data = np.load(cache)
        return {name: (data[name + "-HAADF"], data[name + "-MAADF"], float(data["sampling"])) for name in probes}
    atoms = structure.atoms()
    potential = abtem.Potential(
        atoms, sampling=0.1, slice_thickness=2.0, projection="infinite", parametrization="lobato")
    interpolation = max(1, int(round(structure.extent / 12.0)))
    smatrix = abtem.SMatrix(potential=potential, energy=ENERGY, semiangle_cutoff=SEMIANGLE, interpolation=interpolation)
    built = smatrix.build().compute()
    detectors = [abtem.AnnularDetector(inner=HAADF[0], outer=HAADF[1]), abtem.AnnularDetector(inner=MAADF[0], outer=MAADF[1])]
    scan = abtem.GridScan(start=(0, 0), end=(structure.extent, structure.extent), sampling=0.4, endpoint=False)
    out = {}
    arrays = {}
    for name, aberrations in probes.items():
        ctf = abtem.CTF(semiangle_cutoff=SEMIANGLE, energy=ENERGY, **aberrations)
        # SMatrixArray.scan of abTEM 1.0.11 passes an argument its own reduce does not take.
        measurements = built.reduce(scan=scan, detectors=detectors, ctf=ctf)
        measurements = [m.compute() for m in measurements]
        haadf, maadf = (np.ascontiguousarray(np.asarray(m.array, np.float32).T) for m in measurements)
        sampling = float(measurements[0].sampling[0])
        out[name] = (haadf, maadf, sampling)
        arrays[name + "-HAADF"] = haadf
        arrays[name + "-MAADF"] = maadf
        arrays["sampling"] = np.float64(sampling)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, **arrays)
    return out


def resample(image, sampling, pixel_size):
    """`image` at `sampling` Å per pixel (periodic) at about `pixel_size`, by Fourier interpolation,
    with the pixel size it has exactly."""
    n = image.shape[0]
    m = int(round(n * sampling / pixel_size))
    # Frequencies both grids hold, without the Nyquist one (which has no sign), copied across.
    limit = (min(n, m) - 1) // 2
    k = np.arange(-limit, limit + 1)
    spectrum = np.fft.fft2(image)
    target = np.zeros((m, m), complex)
    target[np.ix_(k % m, k % m)] = spectrum[np.ix_(k % n, k % n)]
    out = np.real(np.fft.ifft2(target)) * (m * m) / (n * n)
    return out.astype(np.float32), n * sampling / m


def acquire(images, pixel, dose, rng, jitter, shear):
    """The noise-free channels cropped to the frame, distorted, at `dose` e/Å², with read noise:
    uint16 counts. Also the distortion, as the x shift of every row (px)."""
    rows = images[0].shape[0]
    shifts = rng.normal(0, jitter, size=rows) + shear * (np.arange(rows) - rows / 2)
    columns = np.arange(images[0].shape[1], dtype=float)
    out = []
    for image in images:
        moved = np.empty_like(image)
        for row in range(rows):
            moved[row] = np.interp(columns - shifts[row], columns, image[row])
        electrons = dose * pixel * pixel
        counts = rng.poisson(np.clip(moved, 0, None) * electrons) + rng.normal(0, READ_NOISE, moved.shape) + BASELINE
        out.append(np.clip(np.rint(counts), 0, 65535).astype("<u2"))
    return out, shifts


def crop_frame(images, sampling, pixel_size, extent):
    """Both channels at the pixel size, the margin cropped: images, pixel size, first pixel (Å)."""
    resampled = [resample(image, sampling, pixel_size) for image in images]
    pixel = resampled[0][1]
    first = int(math.ceil(MARGIN / pixel))
    last = int(math.floor((extent - MARGIN) / pixel))
    return [image[first:last, first:last] for image, _ in resampled], pixel, first * pixel


def write_frame(folder, name, channels, pixel, dose, probe, shifts, origin, defects=None, region=None):
    """The frame's channel files and its label file. Positions move with the distortion: a point at
    row y is shifted right by that row's shift."""
    rows, cols = channels["HAADF"].shape
    record = {
        "channels": [],
        "pixel_size_angstrom": round(pixel, 6),
        "dose_e_per_angstrom2": dose,
        "probe": probe,
        "simulator": f"abTEM {ABTEM_VERSION} (PRISM), {ENERGY / 1e3:.0f} kV, {SEMIANGLE:.0f} mrad",
    }
    for channel, image in channels.items():
        file = f"{name}-{channel}.npy"
        np.save(folder / file, image)
        record["channels"].append({"name": channel, "file": file})
    if defects is not None:
        labels = []
        for kind, x, y in defects:
            px = (x - origin) / pixel
            py = (y - origin) / pixel
            if -0.5 <= py < rows - 0.5:
                px += float(np.interp(py, np.arange(rows), shifts))
            if -0.5 <= px < cols - 0.5 and -0.5 <= py < rows - 0.5:
                labels.append({"type": kind, "x": round(px, 2), "y": round(py, 2)})
        record["defects"] = labels
    if region is not None:
        ys, xs = np.mgrid[0:rows, 0:cols].astype(float)
        # The pixel at column c of row r shows the point at column c - shift[r].
        source_x = (xs - shifts[:, None]) * pixel + origin
        labels = region(source_x, ys * pixel + origin).astype(np.uint8)
        file = f"{name}-regions.npy"
        np.save(folder / file, labels)
        record["regions"] = file
    (folder / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")


def write_set(folder, description, counts):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "set.json").write_text(
        json.dumps(
            {
                "format": "scopepilot-labelled-set",
                "version": 1,
                "sample": "WSe2 monolayer (2H), a = 3.282 Å",
                "description": description,
                "regions": REGIONS,
                "lattice_like": LATTICE_LIKE,
                "made_by": f"Tests/Fixtures/abtem/make_sets.py with abTEM {ABTEM_VERSION}",
                "frames": counts,
            },
            indent=1,
        )
        + "\n"
    )


PROBES = {
    "in-focus": {"defocus": 0.0},
    "defocus-astigmatism": {"defocus": 30.0, "astigmatism": 15.0, "astigmatism_angle": 0.6},
}


def detection_set(root, cache, seed):
    folder = root / "detection"
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    for index in range(3):
        rng = np.random.default_rng(seed + index)
        extent = 80.0
        structure = Structure(extent, rng.uniform(0, math.pi / 3), rng)
        point_defects(structure, rng)
        started = time.time()
        simulated = simulate(structure, PROBES, cache / f"detection-{seed + index}.npz")
        print(f"detection structure {index}: {time.time() - started:.0f} s", flush=True)
        for probe_index, (probe, (haadf, maadf, sampling)) in enumerate(simulated.items()):
            images, pixel, origin = crop_frame([haadf, maadf], sampling, 0.2, extent)
            for dose in DOSES:
                noise = np.random.default_rng([seed, index, probe_index, int(dose)])
                (h, m), shifts = acquire(images, pixel, dose, noise, jitter=0.25, shear=noise.uniform(-0.01, 0.01))
                name = f"d{index}-{probe}-{dose:.0e}".replace("+0", "")
                # The detector reads HAADF; MAADF would only double the set's size.
                write_frame(folder, name, {"HAADF": h}, pixel, dose, probe, shifts, origin, defects=structure.defects())
                count += 1
    write_set(
        folder,
        "Single Se1, Se2 and W vacancies (about 4, 1 and 1 % of sites) on pristine lattice; 7 nm frames at "
        "0.2 Å/px, two probe conditions, four doses, line jitter and drift shear",
        count,
    )


LAYOUTS = [
    [("vacancy-rich", 14), ("hole", 10), ("contamination", 16)],
    [("damaged", 18), ("vacancy-rich", 10)],
    [("contamination", 24), ("hole", 8), ("damaged", 10)],
    [("hole", 16), ("vacancy-rich", 16)],
    [("damaged", 12), ("contamination", 12), ("vacancy-rich", 12), ("hole", 10)],
    [("vacancy-rich", 30)],
]


def region_set(root, cache, seed, folder_name, prefix, layouts, extent, pixel_size, doses, offset, description):
    """Frames of `layouts` (regions in pristine lattice) in `extent` Å cells, at `pixel_size(index)`
    Å/px and `doses`, probes alternating."""
    folder = root / folder_name
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    for index, layout in enumerate(layouts):
        rng = np.random.default_rng(seed + offset + index)
        structure, region = regions_structure(extent, rng, layout)
        probe = list(PROBES)[index % 2]
        started = time.time()
        cached = cache / f"{'segmentation' if prefix == 's' else 'wide'}-{seed + offset + index}.npz"
        simulated = simulate(structure, {probe: PROBES[probe]}, cached)
        print(f"{folder_name} structure {index}: {time.time() - started:.0f} s", flush=True)
        haadf, maadf, sampling = simulated[probe]
        images, pixel, origin = crop_frame([haadf, maadf], sampling, pixel_size(index), extent)
        for dose in doses:
            noise = np.random.default_rng([seed, offset + index, int(dose)])
            (h, m), shifts = acquire(images, pixel, dose, noise, jitter=0.25, shear=noise.uniform(-0.01, 0.01))
            name = f"{prefix}{index}-{dose:.0e}".replace("+0", "")
            write_frame(folder, name, {"HAADF": h, "MAADF": m}, pixel, dose, probe, shifts, origin, region=region)
            count += 1
    write_set(folder, description, count)


def segmentation_set(root, cache, seed):
    region_set(
        root, cache, seed, "segmentation", "s", LAYOUTS, 80.0, lambda index: 0.2 if index % 3 != 2 else 0.3,
        DOSES[1:], 100,
        "Regions of pristine lattice, vacancy-rich lattice, amorphised (damaged) film, holes and hydrocarbon "
        "contamination, 1.5 to 6 nm across in 7 nm frames, 0.2 and 0.3 Å/px, three doses",
    )


WIDE_LAYOUTS = [
    [("vacancy-rich", 40), ("hole", 18), ("contamination", 34), ("damaged", 12)],
    [("damaged", 45), ("vacancy-rich", 22), ("hole", 10)],
    [("contamination", 55), ("hole", 25), ("vacancy-rich", 15)],
    [("hole", 35), ("vacancy-rich", 45), ("damaged", 20), ("contamination", 15)],
]


def wide_segmentation_set(root, cache, seed):
    """Frames of 15 nm with regions from 2 to 11 nm across: the scale users' frames have."""
    region_set(
        root, cache, seed, "segmentation-wide", "w", WIDE_LAYOUTS, 160.0, lambda index: 0.25, (1e4, 1e5), 200,
        "Regions of pristine lattice, vacancy-rich lattice, amorphised (damaged) film, holes and hydrocarbon "
        "contamination, 2 to 11 nm across in 15 nm frames at 0.25 Å/px, two doses",
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = pathlib.Path(__file__).resolve().parent
    parser.add_argument("--out", type=pathlib.Path, default=here, help="where the sets' folders go")
    parser.add_argument("--cache", type=pathlib.Path, default=pathlib.Path.home() / ".cache/scopepilot/abtem")
    parser.add_argument("--only", choices=["detection", "segmentation", "segmentation-wide"])
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    import abtem

    if abtem.__version__ != ABTEM_VERSION:
        sys.exit(f"these sets are made with abTEM {ABTEM_VERSION}; this is {abtem.__version__}")
    abtem.config.set({"device": "cpu"})
    if args.only in (None, "detection"):
        detection_set(args.out, args.cache, args.seed)
    if args.only in (None, "segmentation"):
        segmentation_set(args.out, args.cache, args.seed)
    if args.only in (None, "segmentation-wide"):
        wide_segmentation_set(args.out, args.cache, args.seed)


if __name__ == "__main__":
    main()
