"""Active learning of the defect density with a scikit-learn Gaussian process.

The Python twin of the built-in ``active-learning`` policy (Policies/ActiveLearning.swift): a few
space-filling zooms (a Halton sequence), then a Gaussian-process surrogate of the defect density
(defects per nm² in a zoomed frame) chooses each zoom by expected improvement or UCB, minus
penalties for travel, for revisiting a place, and for the dose a place already holds (read from
the session's dose map, which this policy asks for). Compare the two:

    scopepilot policy eval Policies/examples/active-learning.yaml \
        Policies/examples/python/gp-active-learning.yaml --seeds 2
"""

import math

import numpy as np
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel

from scopepilot import Candidate, Decision, EndSession, Policy, Scan


class GPActiveLearning(Policy):
    name, version = "gp-active-learning", "1.0"
    wants = ["dose_map"]

    def __init__(self, center_nm=(-120.0, 60.0), half_width_nm=150.0, grid=25, zoom_fov_nm=10.24, zoom_pixels=512,
                 zoom_dwell_us=10.0, zooms=20, initial=4, acquisition="ei", kappa=2.0, xi=0.005,
                 length_scale_nm=60.0, noise=0.01, travel_penalty_per_um=0.002, revisit_penalty=1.0,
                 dose_penalty=0.05):
        if acquisition not in ("ei", "ucb"):
            raise ValueError(f"acquisition must be ei or ucb, not {acquisition!r}")
        self.center_nm, self.half_width_nm, self.grid = tuple(center_nm), float(half_width_nm), int(grid)
        self.zoom_fov_nm, self.zoom_pixels, self.zoom_dwell_us = float(zoom_fov_nm), int(zoom_pixels), float(zoom_dwell_us)
        self.zooms, self.initial, self.acquisition = int(zooms), int(initial), acquisition
        self.kappa, self.xi, self.length_scale_nm, self.noise = float(kappa), float(xi), float(length_scale_nm), float(noise)
        self.travel_penalty_per_um, self.revisit_penalty = float(travel_penalty_per_um), float(revisit_penalty)
        self.dose_penalty = float(dose_penalty)
        self._points, self._densities, self._visited, self._best = [], [], [], -math.inf
        cx, cy = self.center_nm
        side = (2 * (np.arange(self.grid) + 0.5) / self.grid - 1) * self.half_width_nm
        xs, ys = np.meshgrid(cx + side, cy + side, indexing="ij")
        self._candidates = np.column_stack([xs.ravel(), ys.ravel()])

    def decide(self, observation):
        frame, last = observation.frame, observation.last_outcome
        if frame is not None and last is not None and last.status == "done" \
                and abs(frame.scan.fov_x_nm - self.zoom_fov_nm) < 1e-6 * self.zoom_fov_nm:
            density = len(observation.defects) / (frame.scan.fov_x_nm * frame.scan.fov_y_nm)
            self._points.append((frame.scan.center_x_nm, frame.scan.center_y_nm))
            self._densities.append(density)
            self._best = max(self._best, density)
        if len(self._visited) >= self.zooms:
            return Decision(EndSession(), f"{self.zooms} zooms made; the densest had {self._best:.3f} defects/nm²")
        if len(self._visited) < self.initial:
            n = len(self._visited) + 1
            x = self.center_nm[0] + (2 * _halton(n, 2) - 1) * self.half_width_nm
            y = self.center_nm[1] + (2 * _halton(n, 3) - 1) * self.half_width_nm
            self._visited.append((x, y))
            return Decision(self._zoom(x, y), f"space-filling zoom {n} of {self.initial} at ({x:.1f}, {y:.1f}) nm, "
                                              "before the surrogate chooses")
        mean, std = self._predict()
        if self.acquisition == "ucb":
            value = mean + self.kappa * std
        else:
            value = _expected_improvement(mean, std, self._best + self.xi)
        lx, ly = self._visited[-1]
        value -= self.travel_penalty_per_um * np.hypot(self._candidates[:, 0] - lx, self._candidates[:, 1] - ly) / 1000
        for vx, vy in self._visited:
            near = (np.abs(self._candidates[:, 0] - vx) < self.zoom_fov_nm) & (np.abs(self._candidates[:, 1] - vy) < self.zoom_fov_nm)
            value[near] -= self.revisit_penalty
        value -= self.dose_penalty * self._held_dose(observation) / max(observation.envelope.dose_per_area_e_per_A2, 1e-9)
        order = np.argsort(-value)
        best = order[0]
        x, y = self._candidates[best]
        self._visited.append((float(x), float(y)))
        return Decision(
            self._zoom(x, y),
            f"{self.acquisition.upper()} zoom {len(self._visited)} of {self.zooms} at ({x:.1f}, {y:.1f}) nm: predicted "
            f"{mean[best]:.3f} ± {std[best]:.3f} defects/nm² (best so far {self._best:.3f}), acquisition {value[best]:.4f}",
            [Candidate(self._zoom(*self._candidates[i]), float(value[i]), f"predicted {mean[i]:.3f} ± {std[i]:.3f}")
             for i in order[:5]])

    def _predict(self):
        """The surrogate's mean and standard deviation at every candidate."""
        y = np.asarray(self._densities)
        if len(y) == 0:
            return np.zeros(len(self._candidates)), np.ones(len(self._candidates))
        offset = y.mean()
        variance = max(y.var(ddof=1) if len(y) > 1 else 0.0, self.noise ** 2, 1e-12)
        kernel = ConstantKernel(variance, "fixed") * RBF(self.length_scale_nm, "fixed")
        model = GaussianProcessRegressor(kernel=kernel, alpha=self.noise ** 2 + 1e-9 * variance, optimizer=None)
        model.fit(np.asarray(self._points), y - offset)
        mean, std = model.predict(self._candidates, return_std=True)
        return mean + offset, std

    def _held_dose(self, observation):
        """The highest dose, e/Å², the session's dose map holds within each candidate's field of view."""
        if observation.dose_map is None:
            return np.zeros(len(self._candidates))
        return np.array([observation.dose_map.peak(x, y, self.zoom_fov_nm) for x, y in self._candidates])

    def _zoom(self, x, y):
        return Scan(float(x), float(y), self.zoom_fov_nm, pixels=self.zoom_pixels, dwell_us=self.zoom_dwell_us)


def _expected_improvement(mean, std, best):
    """E[max(f - best, 0)] for f ~ N(mean, std²), elementwise."""
    std = np.maximum(std, 1e-12)
    z = (mean - best) / std
    cdf = 0.5 * np.vectorize(math.erfc)(-z / math.sqrt(2))
    pdf = np.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    return (mean - best) * cdf + std * pdf


def _halton(index, base):
    """The index-th element of the Halton sequence in base, in (0, 1)."""
    result, fraction = 0.0, 1.0
    while index > 0:
        fraction /= base
        result += fraction * (index % base)
        index //= base
    return result
