"""What a policy can ask the microscope to do: the same vocabulary as the daemon's PolicyKit."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union


class InvalidDecision(ValueError):
    """A decision the daemon would refuse to read: an unknown action or a missing or non-finite field."""


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidDecision(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise InvalidDecision(f"{name} must be finite, got {value!r}")
    return value


def _whole(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidDecision(f"{name} must be a whole number, got {value!r}")
    return value


@dataclass(frozen=True)
class Scan:
    """Scan a square (or, with ``fov_y_nm`` and ``height``, rectangular) region and analyse the frame.

    Positions are stage (sample) coordinates in nm; ``dwell_us`` is the time per pixel.
    """

    center_x_nm: float
    center_y_nm: float
    fov_nm: float
    pixels: int = 512
    dwell_us: float = 10.0
    fov_y_nm: Optional[float] = None
    height: Optional[int] = None
    rotation_deg: float = 0.0

    def to_wire(self) -> Dict[str, Any]:
        wire = {
            "type": "scan",
            "center_x_nm": _finite("center_x_nm", self.center_x_nm),
            "center_y_nm": _finite("center_y_nm", self.center_y_nm),
            "fov_x_nm": _finite("fov_nm", self.fov_nm),
            "fov_y_nm": _finite("fov_y_nm", self.fov_y_nm if self.fov_y_nm is not None else self.fov_nm),
            "width": _whole("pixels", self.pixels),
            "height": _whole("height", self.height if self.height is not None else self.pixels),
            "dwell_us": _finite("dwell_us", self.dwell_us),
        }
        if self.rotation_deg:
            wire["rotation_deg"] = _finite("rotation_deg", self.rotation_deg)
        return wire


@dataclass(frozen=True)
class MoveStage:
    """Move the stage to (``x_nm``, ``y_nm``)."""

    x_nm: float
    y_nm: float

    def to_wire(self) -> Dict[str, Any]:
        return {"type": "move_stage", "x_nm": _finite("x_nm", self.x_nm), "y_nm": _finite("y_nm", self.y_nm)}


@dataclass(frozen=True)
class AcquireReference:
    """Acquire ``count`` reference frames of ``region`` (the realism model is refitted on them)."""

    region: Scan
    count: int = 4

    def to_wire(self) -> Dict[str, Any]:
        wire = self.region.to_wire()
        wire["type"] = "acquire_reference"
        wire["count"] = _whole("count", self.count)
        return wire


@dataclass(frozen=True)
class RequestRetraining:
    """Ask the daemon to refit the realism model and retrain the detector in the background."""

    def to_wire(self) -> Dict[str, Any]:
        return {"type": "request_retraining"}


@dataclass(frozen=True)
class Blank:
    """Blank the beam."""

    def to_wire(self) -> Dict[str, Any]:
        return {"type": "blank"}


@dataclass(frozen=True)
class Unblank:
    """Unblank the beam."""

    def to_wire(self) -> Dict[str, Any]:
        return {"type": "unblank"}


@dataclass(frozen=True)
class EndSession:
    """End the session: the daemon blanks the beam and closes the log."""

    def to_wire(self) -> Dict[str, Any]:
        return {"type": "end_session"}


Action = Union[Scan, MoveStage, AcquireReference, RequestRetraining, Blank, Unblank, EndSession]


@dataclass(frozen=True)
class Candidate:
    """An alternative a policy weighed, with its score in the policy's own units (higher is better)."""

    action: Action
    score: float
    note: Optional[str] = None

    def to_wire(self) -> Dict[str, Any]:
        wire: Dict[str, Any] = {"action": _action_to_wire(self.action), "score": _finite("score", self.score)}
        if self.note is not None:
            wire["note"] = str(self.note)
        return wire


@dataclass(frozen=True)
class Decision:
    """A policy's answer: the action, why (in words a person reading the log understands), and the
    alternatives it weighed."""

    action: Action
    reason: str
    candidates: List[Candidate] = field(default_factory=list)

    def to_wire(self) -> Dict[str, Any]:
        if not isinstance(self.reason, str) or not self.reason.strip():
            raise InvalidDecision("a decision needs a reason: the log says why every action was taken")
        return {
            "action": _action_to_wire(self.action),
            "reason": self.reason,
            "candidates": [candidate.to_wire() for candidate in self.candidates],
        }


def _action_to_wire(action: Any) -> Dict[str, Any]:
    if not isinstance(action, (Scan, MoveStage, AcquireReference, RequestRetraining, Blank, Unblank, EndSession)):
        raise InvalidDecision(
            f"{action!r} is not an action: use Scan, MoveStage, AcquireReference, RequestRetraining, "
            "Blank, Unblank or EndSession"
        )
    return action.to_wire()


def action_from_wire(wire: Dict[str, Any]) -> Action:
    """The action a wire object describes (as in an outcome the daemon reports)."""
    kind = wire.get("type")
    if kind in ("scan", "acquire_reference"):
        region = Scan(
            center_x_nm=wire["center_x_nm"],
            center_y_nm=wire["center_y_nm"],
            fov_nm=wire["fov_x_nm"],
            pixels=wire["width"],
            dwell_us=wire["dwell_us"],
            fov_y_nm=wire.get("fov_y_nm"),
            height=wire.get("height"),
            rotation_deg=wire.get("rotation_deg", 0.0),
        )
        return region if kind == "scan" else AcquireReference(region, wire.get("count", 1))
    if kind == "move_stage":
        return MoveStage(wire["x_nm"], wire["y_nm"])
    simple = {
        "request_retraining": RequestRetraining,
        "blank": Blank,
        "unblank": Unblank,
        "end_session": EndSession,
    }
    if kind in simple:
        return simple[kind]()
    raise InvalidDecision(f"unknown action type {kind!r}")
