"""What a policy sees when it decides, as the daemon sends it (docs/POLICY_PROTOCOL.md section 4).

Every position is in stage (sample) coordinates, nm. Arrays are numpy arrays, present only when the
policy asked for them (``Policy.wants``) and there is a frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .actions import Action, action_from_wire


@dataclass(frozen=True)
class ChannelStatistics:
    """Mean and standard deviation of one detector channel's pixels over an area."""

    name: str
    mean: float
    std: float


@dataclass(frozen=True)
class ScanGeometry:
    """Where and how a frame was scanned."""

    center_x_nm: float
    center_y_nm: float
    fov_x_nm: float
    fov_y_nm: float
    width: int
    height: int
    dwell_us: float
    rotation_deg: float = 0.0


@dataclass(frozen=True)
class PixelSize:
    """A frame's pixel size as its header claims it and as its lattice measures it, in Å. When
    ``consistent`` is false the frame was not analysed for defects (its calibration is off)."""

    claimed_angstrom: float
    measured_angstrom: float
    consistent: bool


@dataclass(frozen=True)
class Frame:
    """The newest analysed frame's metadata."""

    seq: int
    scan: ScanGeometry
    stage_x_nm: float
    stage_y_nm: float
    time: float
    purpose: Optional[str]
    dose_e_per_A2: Optional[float]
    channels: List[ChannelStatistics]
    #: What the lattice says of the pixel size (None: not an atomic-resolution frame, or no lattice).
    pixel_size: Optional[PixelSize] = None


@dataclass(frozen=True)
class Defect:
    """One detected defect."""

    x_nm: float
    y_nm: float
    kind: str
    confidence: float


@dataclass(frozen=True)
class Community:
    """One chip community's share of the newest frame; ``id`` is stable over the session."""

    id: int
    chips: int
    area_nm2: float
    defects: int
    x_nm: Optional[float]
    y_nm: Optional[float]
    channels: List[ChannelStatistics]
    #: The part of the session its chips are in, when the frame shows the lattice: "lattice",
    #: "defect_rich", "covered" (lattice under carbon), "film" (amorphous or damaged) or "vacuum".
    part: Optional[str] = None


@dataclass(frozen=True)
class Chip:
    """One chip (square) of the newest frame and its community."""

    x_nm: float
    y_nm: float
    size_nm: float
    community: int
    defects: Optional[int]
    channels: List[ChannelStatistics]


@dataclass(frozen=True)
class Drift:
    """The newest drift measurement."""

    dx_nm: float
    dy_nm: float
    vx_nm_per_s: float
    vy_nm_per_s: float
    peak: float


@dataclass(frozen=True)
class Outcome:
    """What became of an earlier action: ``status`` is ``done``, ``failed`` or ``refused``."""

    status: str
    action: Optional[Action]
    code: Optional[str] = None
    reason: Optional[str] = None


@dataclass(frozen=True)
class Visit:
    """A region scanned this session, with the dose it received."""

    seq: int
    scan: ScanGeometry
    dose_e_per_A2: float
    defects: Optional[int]
    area_nm2: float


@dataclass(frozen=True)
class SessionMap:
    """Everything visited so far."""

    visits: List[Visit]
    electrons: float
    area_nm2: float


@dataclass(frozen=True)
class Envelope:
    """The limits the daemon enforces: a policy that stays inside them is never refused."""

    stage_x_nm: Tuple[float, float]
    stage_y_nm: Tuple[float, float]
    max_step_nm: float
    fov_nm: Tuple[float, float]
    dwell_us: Tuple[float, float]
    pixels: Tuple[int, int]
    dose_per_area_e_per_A2: float
    dose_per_session_e: float
    commands_per_minute: int
    reference_frames: int


@dataclass(frozen=True)
class DoseMap:
    """The session's dose on a grid of square cells (``Policy.wants`` must name ``"dose_map"``).

    ``values[row, column]`` is the dose, e/Å², of the cell whose lower-left corner lies at
    (``origin_x_nm + column * cell_nm``, ``origin_y_nm + row * cell_nm``); row 0 is the smallest y.
    """

    values: np.ndarray
    origin_x_nm: float
    origin_y_nm: float
    cell_nm: float

    def peak(self, x_nm: float, y_nm: float, fov_nm: float) -> float:
        """The highest dose, e/Å², of the cells a square field of view centred at (x, y) touches
        (0 outside the map)."""
        half = fov_nm / 2
        rows, columns = self.values.shape
        c0 = max(int((x_nm - half - self.origin_x_nm) // self.cell_nm), 0)
        c1 = min(int((x_nm + half - self.origin_x_nm) // self.cell_nm), columns - 1)
        r0 = max(int((y_nm - half - self.origin_y_nm) // self.cell_nm), 0)
        r1 = min(int((y_nm + half - self.origin_y_nm) // self.cell_nm), rows - 1)
        if c0 > c1 or r0 > r1:
            return 0.0
        return float(self.values[r0 : r1 + 1, c0 : c1 + 1].max())


@dataclass(frozen=True)
class Observation:
    """What the daemon shows a policy before each decision."""

    step: int
    elapsed_s: float
    frame: Optional[Frame]
    defects: List[Defect]
    communities: List[Community]
    chips: List[Chip]
    drift: Optional[Drift]
    condition_score: Optional[float]
    outcomes: List[Outcome]
    position: Optional[Tuple[float, float]]
    map: SessionMap
    envelope: Envelope
    retraining: Optional[Dict[str, Any]]
    thumbnail: Optional[np.ndarray] = None
    pixels: Optional[np.ndarray] = None
    community_map: Optional[np.ndarray] = None
    dose_map: Optional[DoseMap] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def last_outcome(self) -> Optional[Outcome]:
        """What became of the newest action whose outcome is known."""
        return self.outcomes[-1] if self.outcomes else None

    @staticmethod
    def from_wire(wire: Dict[str, Any], arrays: Optional[Dict[str, np.ndarray]] = None,
                  earlier_visits: Optional[List["Visit"]] = None) -> "Observation":
        """Builds an observation from its JSON form and its arrays. The map's visits on the wire
        start at ``map.first_visit``; ``earlier_visits`` (the previous observation's) supply the
        ones before it."""
        arrays = arrays or {}

        def channels(items: Optional[List[Dict[str, Any]]]) -> List[ChannelStatistics]:
            return [ChannelStatistics(c["name"], c["mean"], c["std"]) for c in items or []]

        frame = None
        if wire.get("frame"):
            f = wire["frame"]
            frame = Frame(
                seq=f["seq"],
                scan=_scan(f["scan"]),
                stage_x_nm=f["stage"]["x_nm"],
                stage_y_nm=f["stage"]["y_nm"],
                time=f["time"],
                purpose=f.get("purpose"),
                dose_e_per_A2=f.get("dose_e_per_A2"),
                channels=channels(f.get("channels")),
                pixel_size=PixelSize(**f["pixel_size"]) if f.get("pixel_size") else None,
            )
        drift = None
        if wire.get("drift"):
            d = wire["drift"]
            drift = Drift(d["dx_nm"], d["dy_nm"], d["vx_nm_per_s"], d["vy_nm_per_s"], d["peak"])
        position = None
        if wire.get("position"):
            position = (wire["position"]["x_nm"], wire["position"]["y_nm"])
        session_map = wire.get("map") or {}
        first = int(session_map.get("first_visit", 0))
        earlier = earlier_visits or []
        if first > len(earlier):
            raise ValueError(f"the map's visits start at {first}, but only {len(earlier)} earlier visits are known")
        visits = earlier[:first] + [
            Visit(v["seq"], _scan(v["scan"]), v["dose_e_per_A2"], v.get("defects"), v["area_nm2"])
            for v in session_map.get("visits", [])
        ]
        e = wire["envelope"]
        return Observation(
            step=wire["step"],
            elapsed_s=wire["elapsed_s"],
            frame=frame,
            defects=[Defect(d["x_nm"], d["y_nm"], d["kind"], d["confidence"]) for d in wire.get("defects", [])],
            communities=[
                Community(
                    c["id"], c["chips"], c["area_nm2"], c["defects"], c.get("x_nm"), c.get("y_nm"),
                    channels(c.get("channels")), c.get("part"),
                )
                for c in wire.get("communities", [])
            ],
            chips=[
                Chip(c["x_nm"], c["y_nm"], c["size_nm"], c["community"], c.get("defects"), channels(c.get("channels")))
                for c in wire.get("chips", [])
            ],
            drift=drift,
            condition_score=wire.get("condition_score"),
            outcomes=[
                Outcome(
                    o["status"], action_from_wire(o["action"]) if o.get("action") else None, o.get("code"),
                    o.get("reason"),
                )
                for o in wire.get("outcomes", [])
            ],
            position=position,
            map=SessionMap(
                visits=visits,
                electrons=session_map.get("electrons", 0.0),
                area_nm2=session_map.get("area_nm2", 0.0),
            ),
            envelope=Envelope(
                stage_x_nm=tuple(e["stage_x_nm"]),
                stage_y_nm=tuple(e["stage_y_nm"]),
                max_step_nm=e["max_step_nm"],
                fov_nm=tuple(e["fov_nm"]),
                dwell_us=tuple(e["dwell_us"]),
                pixels=tuple(e["pixels"]),
                dose_per_area_e_per_A2=e["dose_per_area_e_per_A2"],
                dose_per_session_e=e["dose_per_session_e"],
                commands_per_minute=e["commands_per_minute"],
                reference_frames=e["reference_frames"],
            ),
            retraining=wire.get("retraining"),
            thumbnail=arrays.get("thumbnail"),
            pixels=arrays.get("pixels"),
            community_map=arrays.get("community_map"),
            dose_map=_dose_map(arrays.get("dose_map"), wire.get("dose_map")),
            raw=wire,
        )


def _dose_map(values: Optional[np.ndarray], grid: Optional[Dict[str, Any]]) -> Optional[DoseMap]:
    if values is None or not grid:
        return None
    return DoseMap(values, grid["origin_x_nm"], grid["origin_y_nm"], grid["cell_nm"])


def _scan(s: Dict[str, Any]) -> ScanGeometry:
    return ScanGeometry(
        center_x_nm=s["center_x_nm"],
        center_y_nm=s["center_y_nm"],
        fov_x_nm=s["fov_x_nm"],
        fov_y_nm=s.get("fov_y_nm", s["fov_x_nm"]),
        width=s["width"],
        height=s.get("height", s["width"]),
        dwell_us=s["dwell_us"],
        rotation_deg=s.get("rotation_deg", 0.0),
    )
