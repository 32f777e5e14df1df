"""Run a policy outside the daemon on what a recorded session showed its policy.

Every decision of a session's policy is logged with the observation it was shown (the log's
``observations`` table). ``replay`` feeds those observations, in order, to a policy of yours and
returns, step by step, what was shown, what the session's policy decided then, and what yours
decides: a policy can be unit-tested with pytest and stepped through in a notebook without a
microscope, a daemon or a virtual microscope.

>>> from scopepilot.replay import replay
>>> steps = replay(DarkestCommunities(zooms=5), "out/demo.sqlite")      # the newest session
>>> for step in steps:
...     print(step.recorded.summary, "|", step.decision.action)

What differs from a live session: nothing is carried out, so the observations are the recorded
session's whatever your policy decides (a replay answers "what would it have chosen here", not
"where would it have gone"); and of the arrays only ``thumbnail`` comes back, as the log keeps it
(8-bit, contrast-stretched, values 0-255 as float32, where the daemon sends the frame's own
intensities). ``pixels``, ``community_map`` and ``dose_map`` are None.
"""

from __future__ import annotations

import json
import sqlite3
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np

from .actions import Decision
from .observation import Observation
from .policy import Policy


@dataclass(frozen=True)
class RecordedDecision:
    """What the session's own policy decided, as the log has it."""

    id: int
    policy: str
    version: str
    action: str
    summary: str
    reason: str
    refused: Optional[str]
    command_status: Optional[str]


@dataclass(frozen=True)
class ReplayStep:
    """One step: what was shown, what the session decided, what the replayed policy decides."""

    observation: Observation
    recorded: RecordedDecision
    decision: Optional[Decision] = None


def _connect(path: Union[str, Path]) -> sqlite3.Connection:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no decision log at {path}")
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "sessions" not in tables:
        connection.close()
        raise ValueError(f"{path} is not a ScopePilot decision log")
    if "observations" not in tables:
        connection.close()
        raise ValueError(f"{path} was written by a daemon that did not record observations (before schema v5)")
    return connection


def _session(connection: sqlite3.Connection, session: Optional[str]) -> str:
    if session is not None:
        if connection.execute("SELECT 1 FROM sessions WHERE id = ?", (session,)).fetchone() is None:
            known = [r[0] for r in connection.execute("SELECT id FROM sessions ORDER BY started_at DESC LIMIT 5")]
            raise KeyError(f"no session {session}; the newest: {', '.join(known) or 'none'}")
        return session
    row = connection.execute("SELECT id FROM sessions ORDER BY started_at DESC LIMIT 1").fetchone()
    if row is None:
        raise KeyError("the log has no sessions")
    return row[0]


def png_gray(data: bytes) -> Optional[np.ndarray]:
    """An 8-bit gray PNG (as the decision log writes thumbnails) as float32; None for another kind."""
    if not data or data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    position, idat, header = 8, b"", None
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    if header is None:
        return None
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour != 0 or interlace != 0:
        return None
    rows = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, width + 1)
    if np.any(rows[:, 0] != 0):
        return None  # filtered rows: not what the log writes
    return rows[:, 1:].astype(np.float32)


def recorded(path: Union[str, Path], session: Optional[str] = None) -> Iterator[Tuple[Observation, RecordedDecision]]:
    """The session's observations, in order, each with the decision its policy made (the newest
    session unless ``session`` names one)."""
    connection = _connect(path)
    try:
        sid = _session(connection, session)
        rows = connection.execute(
            """
            SELECT o.observation, d.id, d.policy, d.policy_version, d.chosen, d.reason, d.input_frames, c.status
            FROM observations o JOIN decisions d ON d.id = o.decision_id
            LEFT JOIN commands c ON c.decision_id = d.id
            WHERE o.session_id = ? ORDER BY d.id
            """,
            (sid,),
        ).fetchall()
        visits: List[Any] = []
        for text, decision_id, policy, version, chosen, reason, inputs, status in rows:
            wire = json.loads(text)
            arrays: Dict[str, np.ndarray] = {}
            frames = json.loads(inputs or "[]")
            if wire.get("frame") and frames:
                blob = connection.execute("SELECT thumbnail FROM frames WHERE id = ?", (frames[0],)).fetchone()
                thumbnail = png_gray(blob[0]) if blob and blob[0] else None
                if thumbnail is not None:
                    arrays["thumbnail"] = thumbnail
            observation = Observation.from_wire(wire, arrays, visits)
            visits = observation.map.visits
            chosen = json.loads(chosen)
            yield observation, RecordedDecision(
                id=decision_id, policy=policy, version=version, action=chosen.get("action", ""),
                summary=chosen.get("summary", ""), reason=reason, refused=chosen.get("refused"),
                command_status=status,
            )
    finally:
        connection.close()


def replay(policy: Policy, path: Union[str, Path], session: Optional[str] = None,
           limit: Optional[int] = None) -> List[ReplayStep]:
    """Shows ``policy`` the session's observations in order and returns every step with its
    decision. An exception in ``decide`` propagates (with its traceback, as in a debugger)."""
    steps: List[ReplayStep] = []
    for observation, decision in recorded(path, session):
        if limit is not None and len(steps) >= limit:
            break
        answer = policy.decide(observation)
        if not isinstance(answer, Decision):
            raise TypeError(f"decide returned {answer!r}, not a scopepilot.Decision (step {observation.step})")
        answer.to_wire()  # the checks the daemon's policy process applies
        steps.append(ReplayStep(observation, decision, answer))
    return steps
