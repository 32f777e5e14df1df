"""Scan policies for ScopePilot, the self-driving STEM daemon, written in Python.

A policy is a subclass of :class:`Policy` with a ``decide(observation)`` method that returns a
:class:`Decision`; a policy file names the script and class (``policy: python``) and the daemon runs
it in a process of its own. See docs/POLICY_PROTOCOL.md for the wire protocol.
"""

from .actions import (
    AcquireReference,
    Action,
    Blank,
    Candidate,
    Decision,
    EndSession,
    InvalidDecision,
    MoveStage,
    RequestRetraining,
    Scan,
    Unblank,
)
from .observation import (
    ChannelStatistics,
    Chip,
    Community,
    Defect,
    DoseMap,
    Drift,
    Envelope,
    Frame,
    Observation,
    Outcome,
    PixelSize,
    ScanGeometry,
    SessionMap,
    Visit,
)
from .policy import Policy

PROTOCOL = "1.0"

__all__ = [
    "AcquireReference", "Action", "Blank", "Candidate", "ChannelStatistics", "Chip", "Community",
    "Decision", "Defect", "DoseMap", "Drift", "EndSession", "Envelope", "Frame", "InvalidDecision", "MoveStage",
    "Observation", "Outcome", "PixelSize", "Policy", "PROTOCOL", "RequestRetraining", "Scan", "ScanGeometry",
    "SessionMap", "Unblank", "Visit",
]
