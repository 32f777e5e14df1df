"""Survey a square at low magnification, then zoom into the darkest communities the survey found.

The survey's chips are grouped into communities by the daemon's unsupervised segmentation; each
community comes with its mean intensity per detector channel. In HAADF, darker means lighter atoms
or thinner sample (holes, oxidised patches, contamination edges), often where the defects are.
Zooms go round the ``communities`` darkest communities, the darkest chips of each first, until
``zooms`` zooms are made.

Run it against the virtual microscope:

    scopepilot demo --policy Policies/examples/python/darkest-communities.yaml
"""

from scopepilot import Candidate, Decision, EndSession, Policy, Scan


class DarkestCommunities(Policy):
    name, version = "darkest-communities", "1.0"

    def __init__(self, center_nm=(-40.0, 40.0), survey_fov_nm=1000.0, survey_pixels=512, survey_dwell_us=2.0,
                 communities=3, zooms=20, zoom_fov_nm=10.24, zoom_pixels=512, zoom_dwell_us=10.0):
        self.center_nm, self.survey_fov_nm = tuple(center_nm), float(survey_fov_nm)
        self.survey_pixels, self.survey_dwell_us = int(survey_pixels), float(survey_dwell_us)
        self.communities, self.zooms = int(communities), int(zooms)
        self.zoom_fov_nm, self.zoom_pixels, self.zoom_dwell_us = float(zoom_fov_nm), int(zoom_pixels), float(zoom_dwell_us)
        self._targets = None  # (x, y, community, mean) in zoom order, once the survey is analysed
        self._zoomed = 0

    def decide(self, observation):
        if observation.step == 0:
            x, y = self.center_nm
            return Decision(Scan(x, y, self.survey_fov_nm, pixels=self.survey_pixels, dwell_us=self.survey_dwell_us),
                            f"survey {self.survey_fov_nm:g} nm around ({x:g}, {y:g}) nm")
        if self._targets is None:
            frame = observation.frame
            if frame is None or abs(frame.scan.fov_x_nm - self.survey_fov_nm) > 1e-6 * self.survey_fov_nm:
                return Decision(EndSession(), "the survey brought no analysed frame")
            self._targets = self._plan(observation)
            if not self._targets:
                return Decision(EndSession(), "the survey found no communities to zoom into")
        if self._zoomed >= min(self.zooms, len(self._targets)):
            return Decision(EndSession(), f"{self._zoomed} zooms made")
        x, y, community, mean = self._targets[self._zoomed]
        self._zoomed += 1
        return Decision(
            self._zoom(x, y),
            f"zoom {self._zoomed} of {self.zooms}: a chip of community {community}, the survey's "
            f"{_darkest(self._rank[community])} (chip mean {mean:.3g})",
            [Candidate(self._zoom(tx, ty), -m, f"community {c}") for tx, ty, c, m in self._targets[self._zoomed:][:5]])

    def _plan(self, observation):
        """The zoom targets: the darkest communities in turn, each one's darkest chips first."""
        darkest = sorted(observation.communities, key=_mean)[: self.communities]
        self._rank = {c.id: rank for rank, c in enumerate(darkest, start=1)}
        queues = [sorted((chip for chip in observation.chips if chip.community == c.id), key=_mean) for c in darkest]
        targets = []
        while any(queues):
            for queue in queues:
                if queue:
                    chip = queue.pop(0)
                    targets.append((chip.x_nm, chip.y_nm, chip.community, _mean(chip)))
        return targets

    def _zoom(self, x, y):
        return Scan(x, y, self.zoom_fov_nm, pixels=self.zoom_pixels, dwell_us=self.zoom_dwell_us)


def _mean(item):
    """The first channel's mean over a community or chip (HAADF when the frame has it)."""
    return item.channels[0].mean if item.channels else float("inf")


def _darkest(rank):
    """1 -> "darkest", 2 -> "2nd darkest", ..."""
    return "darkest" if rank == 1 else f"{rank}{ {2: 'nd', 3: 'rd'}.get(rank, 'th') } darkest"
