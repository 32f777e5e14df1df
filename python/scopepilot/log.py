"""A ScopePilot decision log (SQLite) as pandas DataFrames with proper types.

>>> from scopepilot import log
>>> session_log = log.open("out/demo.sqlite")
>>> session_log.sessions()                     # one row per session
>>> decisions = session_log.decisions()        # the newest session; or decisions("s-...")
>>> decisions[["made_at", "action", "reason"]]

Times (``*_at``) are UTC timestamps, JSON columns (the scan geometry, a decision's chosen action
and candidates, latencies, readbacks) are Python objects, counts are integers. The file is opened
read-only, so a running daemon can go on writing it.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Dict, Optional, Union

_JSON_COLUMNS = {
    "scan", "channels", "candidates", "chosen", "latency", "input_frames", "readback", "policy_parameters",
    "instrument", "metrics", "estimate", "statistics", "metadata", "optics", "chip_grid", "observation",
}
_BLOB_COLUMNS = {"pixels", "thumbnail"}


def _pandas():
    try:
        import pandas
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("scopepilot.log needs pandas: pip install pandas") from error
    return pandas


def _parsed(text: Any) -> Any:
    if text is None or not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


class DecisionLog:
    """A decision log, opened read-only."""

    def __init__(self, path: Union[str, Path]):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no decision log at {path}")
        self.path = path
        self.connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            self.connection.execute("SELECT id FROM sessions LIMIT 1")
        except sqlite3.DatabaseError as error:
            raise ValueError(f"{path} is not a ScopePilot decision log ({error})") from error

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> "DecisionLog":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def query(self, sql: str, parameters: tuple = ()) -> "Any":
        """Any SQL as a DataFrame, typed as the tables are."""
        pandas = _pandas()
        frame = pandas.read_sql_query(sql, self.connection, params=parameters)
        for column in frame.columns:
            if column in _BLOB_COLUMNS:
                continue
            if column in _JSON_COLUMNS:
                frame[column] = frame[column].map(_parsed)
            elif column.endswith("_at") or column == "time":
                frame[column] = pandas.to_datetime(frame[column], unit="s", utc=True)
            elif column in ("analysed",):
                frame[column] = frame[column].astype(bool)
        return frame

    def latest(self) -> str:
        """The id of the newest session."""
        row = self.connection.execute("SELECT id FROM sessions ORDER BY started_at DESC LIMIT 1").fetchone()
        if row is None:
            raise LookupError(f"{self.path} has no sessions")
        return row[0]

    def _session(self, session: Optional[str]) -> str:
        return session or self.latest()

    def sessions(self):
        """Every session: when, how it ended, the policy and its parameters, the model."""
        return self.query("SELECT * FROM sessions ORDER BY started_at")

    def frames(self, session: Optional[str] = None, pixels: bool = False):
        """A session's frames (without their pixel and thumbnail blobs unless ``pixels``)."""
        columns = "*" if pixels else ", ".join(
            c for c in self._columns("frames") if c not in _BLOB_COLUMNS)
        return self.query(f"SELECT {columns} FROM frames WHERE session_id = ? ORDER BY id", (self._session(session),))

    def decisions(self, session: Optional[str] = None):
        """A session's decisions; ``action`` is the chosen action's name."""
        frame = self.query("SELECT * FROM decisions WHERE session_id = ? ORDER BY id", (self._session(session),))
        frame.insert(3, "action", frame["chosen"].map(lambda c: c.get("action") if isinstance(c, dict) else None))
        return frame

    def commands(self, session: Optional[str] = None):
        """A session's commands: sent, acknowledged, finished, readback, error."""
        return self.query("SELECT * FROM commands WHERE session_id = ? ORDER BY sent_at", (self._session(session),))

    def detections(self, session: Optional[str] = None):
        """A session's detections, with the seq and driver session of their frame."""
        return self.query(
            "SELECT f.driver_session, f.seq, d.* FROM detections d JOIN frames f ON f.id = d.frame_id "
            "WHERE f.session_id = ? ORDER BY d.frame_id", (self._session(session),))

    def communities(self, session: Optional[str] = None):
        """A session's chip communities: one row per chip of every segmented frame."""
        return self.query(
            "SELECT f.driver_session, f.seq, c.* FROM communities c JOIN frames f ON f.id = c.frame_id "
            "WHERE f.session_id = ? ORDER BY c.frame_id, c.chip", (self._session(session),))

    def _columns(self, table: str) -> list:
        return [row[1] for row in self.connection.execute(f"PRAGMA table_info({table})")]


def open(path: Union[str, Path]) -> DecisionLog:  # noqa: A001 - the module's verb, as log.open(...)
    """Opens a decision log read-only."""
    return DecisionLog(path)
