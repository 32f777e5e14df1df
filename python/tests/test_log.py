"""scopepilot.log on a decision log the daemon wrote (a short demo session)."""

import pandas as pd
import pytest

from scopepilot import log


def test_tables_come_typed(demo_log):
    with log.open(demo_log) as session_log:
        sessions = session_log.sessions()
        assert len(sessions) == 1 and sessions["status"][0] == "finished"
        assert isinstance(sessions["started_at"].dtype, pd.DatetimeTZDtype)
        assert isinstance(sessions["policy_parameters"][0], dict)
        frames = session_log.frames()
        assert len(frames) == 4
        assert pd.api.types.is_integer_dtype(frames["width"]) and (frames["width"] == 128).all()
        assert isinstance(frames["scan"][0], dict) and "center_x_nm" in frames["scan"][0]
        assert frames["analysed"].dtype == bool and frames["analysed"].all()
        assert "pixels" not in frames.columns and "thumbnail" not in frames.columns
        decisions = session_log.decisions()
        assert list(decisions["action"])[-1] == "blank_beam"
        assert isinstance(decisions["latency"][0], dict)
        assert (decisions["made_at"].diff().dropna() >= pd.Timedelta(0)).all()
        commands = session_log.commands()
        assert (commands["status"] == "done").all()
        assert (commands["acked_at"] >= commands["sent_at"]).all()
        detections = session_log.detections()
        assert {"seq", "x", "y", "confidence"} <= set(detections.columns)
        assert pd.api.types.is_float_dtype(detections["confidence"])
        communities = session_log.communities()
        assert pd.api.types.is_integer_dtype(communities["community"])


def test_a_file_that_is_not_a_log_is_refused_with_why(tmp_path):
    with pytest.raises(FileNotFoundError, match="no decision log"):
        log.open(tmp_path / "missing.sqlite")
    other = tmp_path / "other.sqlite"
    other.write_bytes(b"not a database at all" * 100)
    with pytest.raises(ValueError, match="not a ScopePilot decision log"):
        log.open(other)
