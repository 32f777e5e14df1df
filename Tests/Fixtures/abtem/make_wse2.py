import sys, time, numpy as np
import abtem, ase.build
from ase.build import mx2
t0 = time.time()
atoms = mx2("WSe2", kind="2H", a=3.282, thickness=3.34, vacuum=2)
atoms = abtem.orthogonalize_cell(atoms)
atoms = atoms * (5, 3, 1)
atoms.center(axis=2, vacuum=2)
print("cell", atoms.cell.lengths(), len(atoms), flush=True)
potential = abtem.Potential(atoms, sampling=0.08, slice_thickness=1, projection="infinite", parametrization="lobato")
probe = abtem.Probe(energy=80e3, semiangle_cutoff=25, defocus=0)
sampling = float(sys.argv[1]) if len(sys.argv) > 1 else 0.3
scan = abtem.GridScan(start=(0, 0), end=(atoms.cell[0, 0], atoms.cell[1, 1]), sampling=sampling)
detector = abtem.AnnularDetector(inner=70, outer=200)
measurement = probe.scan(potential, scan=scan, detectors=detector).compute()
image = np.ascontiguousarray(np.asarray(measurement.array, dtype=np.float32).T)  # rows = y
print("shape", image.shape, "sampling", measurement.sampling, "s", time.time() - t0, flush=True)
np.save(f"/tmp/abtem/wse2-{sampling}.npy", image)
