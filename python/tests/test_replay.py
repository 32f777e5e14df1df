"""scopepilot.replay on a session the daemon recorded (a short demo with a built-in policy)."""

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from scopepilot import Decision, EndSession, Policy, Scan
from scopepilot.replay import png_gray, recorded, replay

REPOSITORY = Path(__file__).resolve().parents[2]


class Brightest(Policy):
    """Zooms where the newest frame's brightest community is; counts what it saw."""

    name, version = "brightest", "1"

    def __init__(self):
        self.seen = []

    def decide(self, observation):
        self.seen.append(observation.step)
        if not observation.communities:
            return Decision(EndSession(), "nothing seen yet")
        best = max(observation.communities, key=lambda c: c.channels[0].mean)
        return Decision(Scan(best.x_nm, best.y_nm, 5.0, pixels=128), f"community {best.id}")


def test_every_recorded_observation_is_replayed_in_order_with_the_recorded_decision(demo_log):
    policy = Brightest()
    steps = replay(policy, demo_log)
    connection = sqlite3.connect(demo_log)
    policy_decisions = connection.execute(
        "SELECT id, json_extract(chosen, '$.action'), reason FROM decisions "
        "WHERE policy != 'scopepilot-daemon' AND id IN (SELECT decision_id FROM observations) ORDER BY id").fetchall()
    assert len(steps) == len(policy_decisions) >= 4
    # Only an ending by a stop condition, which the policy was not asked about, has no observation.
    unasked = connection.execute(
        "SELECT reason FROM decisions WHERE policy != 'scopepilot-daemon' "
        "AND id NOT IN (SELECT decision_id FROM observations)").fetchall()
    assert all(reason.startswith("stop condition") for (reason,) in unasked), unasked
    assert policy.seen == [s.observation.step for s in steps] == list(range(len(steps)))
    for step, (decision_id, action, reason) in zip(steps, policy_decisions):
        assert (step.recorded.id, step.recorded.action, step.recorded.reason) == (decision_id, action, reason)
        assert isinstance(step.decision, Decision)
    # The map's visits come back whole, though each was recorded once.
    counts = [json.loads(t)["map"]["visit_count"] for (t,) in
              connection.execute("SELECT observation FROM observations ORDER BY decision_id")]
    assert [len(s.observation.map.visits) for s in steps] == counts
    assert counts[-1] >= 3
    seqs = [v.seq for v in steps[-1].observation.map.visits]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # A frame's thumbnail is the log's 8-bit copy.
    with_frame = [s for s in steps if s.observation.frame is not None]
    assert with_frame and all(s.observation.thumbnail is not None for s in with_frame)
    thumbnail = with_frame[-1].observation.thumbnail
    assert thumbnail.dtype == np.float32 and thumbnail.max() <= 255 and thumbnail.shape[0] <= 128


def test_a_policy_that_raises_in_replay_raises_where_it_failed(demo_log):
    class Broken(Policy):
        def decide(self, observation):
            if observation.step == 2:
                raise ZeroDivisionError("step two")
            return Decision(EndSession(), "fine")

    with pytest.raises(ZeroDivisionError, match="step two"):
        replay(Broken(), demo_log)
    with pytest.raises(TypeError, match="not a scopepilot.Decision"):
        replay(type("Garbage", (Policy,), {"decide": lambda self, o: "left"})(), demo_log)


def test_sessions_are_named_and_a_wrong_file_is_refused(demo_log, tmp_path):
    assert len(list(recorded(demo_log, session=None))) >= 4
    with pytest.raises(KeyError, match="no session s-nothing"):
        list(recorded(demo_log, session="s-nothing"))
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(ValueError, match="not a ScopePilot decision log"):
        list(recorded(other))
    assert png_gray(b"not a png") is None


def test_the_readmes_python_policy_runs_on_a_recorded_session(demo_log):
    readme = (REPOSITORY / "README.md").read_text()
    section = readme[readme.index("### In Python"):]
    source = section[section.index("```python") + len("```python"):]
    source = source[: source.index("```")]
    namespace = {}
    exec(compile(source, "README.md", "exec"), namespace)
    policy = namespace["DarkestCommunities"](zooms=2)
    steps = replay(policy, demo_log)
    assert steps[0].decision.reason == "survey"
    assert all(isinstance(s.decision, Decision) for s in steps)
