"""The policy process as the daemon drives it: setup, decisions, and every way a policy fails."""

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from conftest import PACKAGE, observation

DARKEST = """
    from scopepilot import Policy, Decision, Scan, EndSession, Candidate

    class TestPolicy(Policy):
        name, version = "darkest", "2.1"
        wants = ["thumbnail"]

        def __init__(self, zooms=3, fov_nm=5.0):
            self.zooms, self.fov_nm, self.done = zooms, fov_nm, 0
            self.seen = []

        def decide(self, observation):
            self.seen.append(observation)
            if self.done == self.zooms or not observation.communities:
                return Decision(EndSession(), "no more zooms")
            self.done += 1
            darkest = min(observation.communities, key=lambda c: c.channels[0].mean)
            thumb = observation.thumbnail
            note = f"thumbnail {thumb.shape} mean {thumb.mean():.2f}" if thumb is not None else "no thumbnail"
            return Decision(
                Scan(darkest.x_nm, darkest.y_nm, self.fov_nm, pixels=256),
                f"community {darkest.id} is the darkest; {note}; last outcome {observation.last_outcome.status}",
                [Candidate(Scan(c.x_nm, c.y_nm, self.fov_nm, pixels=256), -c.channels[0].mean, f"community {c.id}")
                 for c in observation.communities])
"""


def test_setup_and_decisions(daemon):
    fake = daemon(DARKEST, parameters={"zooms": 1, "fov_nm": 4.0})
    ready = fake.start()
    assert ready["type"] == "ready"
    assert (ready["name"], ready["version"]) == ("darkest", "2.1")
    assert ready["parameters"]["zooms"] == 1 and ready["parameters"]["fov_nm"] == 4.0
    assert ready["waits_for_analysis"] is True and ready["wants"] == ["thumbnail"]
    thumbnail = np.full((8, 16), 0.25, dtype="<f4")
    decision = fake.observe("o-0", arrays=[("thumbnail", thumbnail)])
    assert decision["type"] == "decision" and decision["id"] == "o-0"
    action = decision["action"]
    assert action == {"type": "scan", "center_x_nm": -2.0, "center_y_nm": 1.0, "fov_x_nm": 4.0, "fov_y_nm": 4.0,
                      "width": 256, "height": 256, "dwell_us": 10.0}
    assert "community 1 is the darkest" in decision["reason"]
    assert "thumbnail (8, 16) mean 0.25" in decision["reason"]
    assert "last outcome refused" in decision["reason"]
    assert [c["note"] for c in decision["candidates"]] == ["community 1", "community 4"]
    assert decision["candidates"][0]["score"] == -0.2
    last = fake.observe("o-1")
    assert last["action"] == {"type": "end_session"} and last["id"] == "o-1"
    fake.close()
    assert fake.process.returncode == 0


def test_import_error_is_reported_with_its_traceback(daemon):
    fake = daemon("import numpy\nraise RuntimeError('no calibration file')\n")
    error = fake.start()
    assert error["type"] == "error"
    assert "RuntimeError: no calibration file" in error["message"]
    assert "policy_under_test.py" in error["traceback"] and "line 2" in error["traceback"]
    assert fake.process.wait(10) == 1


def test_missing_class_names_the_policies_there_are(daemon):
    fake = daemon("from scopepilot import Policy\nclass Other(Policy):\n    pass\n", class_name="Missing")
    error = fake.start()
    assert error["type"] == "error"
    assert "no class Missing" in error["message"] and "Other" in error["message"]


def test_wrong_parameters_say_which(daemon):
    fake = daemon(DARKEST, parameters={"zoomz": 3})
    error = fake.start()
    assert error["type"] == "error" and "zoomz" in error["message"]


def test_raising_in_decide_is_an_error_for_that_observation_and_the_policy_goes_on(daemon):
    fake = daemon("""
        from scopepilot import Policy, Decision, EndSession
        class TestPolicy(Policy):
            def __init__(self):
                self.calls = 0
            def decide(self, observation):
                self.calls += 1
                if self.calls == 1:
                    return {"action": "scan"}[observation.frame.purpose]
                return Decision(EndSession(), "second call")
    """)
    assert fake.start()["type"] == "ready"
    error = fake.observe("o-0")
    assert error["type"] == "error" and error["id"] == "o-0"
    assert "KeyError" in error["message"] and "decide" in error["traceback"]
    assert fake.observe("o-1")["type"] == "decision"


def test_garbage_and_non_finite_decisions_are_refused_by_the_policy_side(daemon):
    fake = daemon("""
        import math
        from scopepilot import Policy, Decision, Scan
        class TestPolicy(Policy):
            def __init__(self):
                self.calls = 0
            def decide(self, observation):
                self.calls += 1
                if self.calls == 1:
                    return {"type": "scan"}
                if self.calls == 2:
                    return Decision(Scan(math.nan, 0, 10), "nowhere")
                return Decision(Scan(0, 0, 10), "")
    """)
    assert fake.start()["type"] == "ready"
    first = fake.observe("o-0")
    assert first["type"] == "error" and "not a scopepilot.Decision" in first["message"]
    second = fake.observe("o-1")
    assert second["type"] == "error" and "center_x_nm must be finite" in second["message"]
    third = fake.observe("o-2")
    assert third["type"] == "error" and "needs a reason" in third["message"]


def test_arrays_that_do_not_match_their_description_are_an_error_not_a_crash(daemon):
    fake = daemon(DARKEST)
    assert fake.start()["type"] == "ready"
    fake.send({"type": "observe", "id": "o-0", "observation": observation(),
               "arrays": [{"name": "thumbnail", "dtype": "float32", "shape": [4, 4]}]},
              [np.zeros(3, dtype="<f4")])
    error = fake.receive()
    assert error["type"] == "error" and "12 bytes for shape (4, 4)" in error["message"]
    assert fake.observe("o-1")["type"] == "decision"


BUSY = """
    import os, time
    from pathlib import Path
    from scopepilot import Policy, Decision, EndSession

    class TestPolicy(Policy):
        name, version = "busy", "1"

        def decide(self, observation):
            Path(os.environ["TEST_MARKER"]).write_text("deciding")
            time.sleep(120)
            return Decision(EndSession(), "done at last")
"""

# A daemon that starts the policy process, hands it an observation and dies without a word,
# as a crashed or killed daemon does. It prints the policy process's pid.
DYING_DAEMON = """
import json, os, subprocess, sys, zmq
sys.path.insert(0, os.environ["TEST_CONFTEST"])
from conftest import observation
context = zmq.Context()
socket = context.socket(zmq.ROUTER)
socket.bind("tcp://127.0.0.1:*")
endpoint = socket.getsockopt_string(zmq.LAST_ENDPOINT)
child = subprocess.Popen([sys.executable, "-m", "scopepilot.host"], stdout=subprocess.DEVNULL,
                         env=dict(os.environ, SCOPEPILOT_POLICY_ENDPOINT=endpoint))
peer, hello = socket.recv_multipart()
send = lambda message: socket.send_multipart([peer, json.dumps({"protocol": "1.0", **message}).encode()])
send({"type": "setup", "session": "s", "script": os.environ["TEST_SCRIPT"], "class": "TestPolicy",
      "parameters": {}, "deadline_ms": 3000, "envelope": observation()["envelope"]})
socket.recv_multipart()
send({"type": "observe", "id": "o-0", "observation": observation(), "arrays": []})
import time
for _ in range(300):
    if os.path.exists(os.environ["TEST_MARKER"]):
        break
    time.sleep(0.1)
print(child.pid, os.path.exists(os.environ["TEST_MARKER"]), flush=True)
os._exit(0)
"""


def _running(pid):
    """Whether ``pid`` is a live process (a zombie has ended: nobody may have reaped it yet)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return not any(line.startswith("State:") and "Z" in line.split()[1] for line in status)
    except FileNotFoundError:
        return False


def test_a_policy_busy_in_decide_ends_soon_after_the_daemon_dies(tmp_path):
    script = tmp_path / "busy.py"
    script.write_text(textwrap.dedent(BUSY))
    marker = tmp_path / "deciding"
    environment = dict(os.environ, TEST_SCRIPT=str(script), TEST_CONFTEST=str(Path(__file__).parent),
                       TEST_MARKER=str(marker),
                       PYTHONPATH=str(PACKAGE) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    # Only the dying daemon's stdout is read: the policy process, which outlives it, holds no end of it.
    dying = subprocess.run([sys.executable, "-c", DYING_DAEMON], env=environment, stdout=subprocess.PIPE, text=True,
                           timeout=60)
    assert dying.returncode == 0
    pid, deciding = dying.stdout.split()
    pid = int(pid)
    try:
        assert deciding == "True", "the policy never got to decide"
        deadline = time.monotonic() + 10
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _running(pid), "the policy process outlived its daemon"
    finally:
        if _running(pid):
            os.kill(pid, 9)
