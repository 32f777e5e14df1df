"""The base class of a scan policy written in Python."""

from __future__ import annotations

from typing import Any, Dict, List

from .actions import Decision
from .observation import Observation


class Policy:
    """A scan policy: after every analysed frame the daemon shows it an :class:`Observation` and it
    answers with a :class:`Decision`.

    Subclass it, set ``name`` and ``version`` (logged with every decision), take your parameters as
    keyword arguments of ``__init__`` (a policy file's ``parameters:`` are passed so), and write
    ``decide``. The daemon checks every action against the safety envelope before anything is sent:
    an action outside it is refused, logged, and reported back in ``observation.outcomes``.

    >>> from scopepilot import Policy, Decision, Scan, EndSession
    >>> class LookTwice(Policy):
    ...     name, version = "look-twice", "1"
    ...     def __init__(self, fov_nm=10.0):
    ...         self.fov_nm, self.looked = fov_nm, 0
    ...     def decide(self, observation):
    ...         if self.looked == 2:
    ...             return Decision(EndSession(), "looked twice")
    ...         self.looked += 1
    ...         return Decision(Scan(0, 0, self.fov_nm, pixels=256), f"look {self.looked} of 2 at the centre")
    """

    #: The name logged with every decision.
    name: str = "python-policy"
    #: The version logged with every decision.
    version: str = "0"
    #: Whether the daemon waits for the analysis of this policy's previous frame before asking
    #: again (True), or asks as soon as the driver has queued the previous scan (False: a policy
    #: that plans ahead, as a raster does; outcomes then arrive a little later).
    waits_for_analysis: bool = True
    #: Arrays to receive with each observation: any of "thumbnail", "pixels" (the whole frame: costs
    #: a copy of it per decision), "community_map", "dose_map".
    wants: List[str] = ["thumbnail"]

    def decide(self, observation: Observation) -> Decision:
        """The next action, given the newest analysis and the session so far."""
        raise NotImplementedError(f"{type(self).__name__} must define decide(self, observation)")

    @property
    def parameters(self) -> Dict[str, Any]:
        """The parameters in force, logged with the session (default: the instance's public
        attributes that are plain values)."""
        plain = (int, float, str, bool, type(None), list, tuple)
        return {k: v for k, v in vars(self).items() if not k.startswith("_") and isinstance(v, plain)}
