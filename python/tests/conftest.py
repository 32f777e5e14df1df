"""A stand-in for the daemon's end of the policy protocol, for the package's tests."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import zmq

PACKAGE = Path(__file__).resolve().parents[1]
REPOSITORY = PACKAGE.parent


def observation(step=0, frame=True):
    """A small observation as the daemon sends it."""
    scan = {"center_x_nm": 0.0, "center_y_nm": 0.0, "fov_x_nm": 10.0, "fov_y_nm": 10.0, "width": 64,
            "height": 64, "dwell_us": 10.0}
    wire = {
        "step": step, "elapsed_s": 1.5, "frame": None, "defects": [], "communities": [], "chips": [],
        "drift": None, "condition_score": None, "outcomes": [], "position": None,
        "map": {"visits": [], "electrons": 0.0, "area_nm2": 0.0},
        "envelope": {"stage_x_nm": [-100, 100], "stage_y_nm": [-100, 100], "max_step_nm": 50,
                     "fov_nm": [1, 100], "dwell_us": [1, 40], "pixels": [64, 1024],
                     "dose_per_area_e_per_A2": 1e6, "dose_per_session_e": 1e16, "commands_per_minute": 600,
                     "reference_frames": 16},
        "retraining": None,
    }
    if frame:
        wire["frame"] = {"seq": 3, "scan": scan, "stage": {"x_nm": 0.0, "y_nm": 0.0}, "time": 1.0,
                         "purpose": None, "dose_e_per_A2": 120.0,
                         "channels": [{"name": "HAADF", "mean": 0.4, "std": 0.1}]}
        wire["communities"] = [
            {"id": 1, "chips": 3, "area_nm2": 30.0, "defects": 2, "x_nm": -2.0, "y_nm": 1.0,
             "channels": [{"name": "HAADF", "mean": 0.2, "std": 0.05}]},
            {"id": 4, "chips": 1, "area_nm2": 10.0, "defects": 0, "x_nm": 3.0, "y_nm": -1.0,
             "channels": [{"name": "HAADF", "mean": 0.7, "std": 0.05}]},
        ]
        wire["outcomes"] = [{"status": "refused", "action": {"type": "move_stage", "x_nm": 1e9, "y_nm": 0},
                             "reason": "outside stage_x_nm"}]
    return wire


class FakeDaemon:
    """Binds a ROUTER, starts ``python -m scopepilot.host`` on a script, and talks to it."""

    def __init__(self, tmp_path, source, class_name="TestPolicy", parameters=None):
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.bind("tcp://127.0.0.1:*")
        self.endpoint = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self.script = tmp_path / "policy_under_test.py"
        self.script.write_text(textwrap.dedent(source))
        self.class_name = class_name
        self.parameters = parameters or {}
        environment = dict(os.environ, SCOPEPILOT_POLICY_ENDPOINT=self.endpoint,
                           PYTHONPATH=str(PACKAGE) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.process = subprocess.Popen([sys.executable, "-m", "scopepilot.host"], env=environment)
        self.peer = None

    def receive(self, timeout_ms=20000):
        assert self.socket.poll(timeout_ms), "the policy process said nothing"
        parts = self.socket.recv_multipart()
        self.peer = parts[0]
        return json.loads(parts[1])

    def send(self, message, arrays=()):
        parts = [self.peer, json.dumps({"protocol": "1.0", **message}).encode()]
        parts += [np.ascontiguousarray(a).tobytes() for a in arrays]
        self.socket.send_multipart(parts)

    def start(self):
        hello = self.receive()
        assert hello["type"] == "hello" and hello["protocol"] == "1.0"
        self.send({"type": "setup", "session": "s-test", "script": str(self.script), "class": self.class_name,
                   "parameters": self.parameters, "deadline_ms": 3000, "envelope": observation()["envelope"]})
        return self.receive()

    def observe(self, message_id, wire=None, arrays=()):
        descriptions = [{"name": name, "dtype": str(a.dtype), "shape": list(a.shape)} for name, a in arrays]
        self.send({"type": "observe", "id": message_id, "observation": wire or observation(), "arrays": descriptions},
                  [a for _, a in arrays])
        return self.receive()

    def close(self):
        if self.process.poll() is None:
            self.send({"type": "end", "reason": "the test is over"})
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.socket.close()
        self.context.term()


@pytest.fixture
def daemon(tmp_path):
    made = []

    def start(source, **options):
        fake = FakeDaemon(tmp_path, source, **options)
        made.append(fake)
        return fake

    yield start
    for fake in made:
        fake.close()


@pytest.fixture(scope="session")
def demo_log(tmp_path_factory):
    """A short demo session's decision log, written by the daemon (make test builds it)."""
    binary = Path(os.environ.get("SCOPEPILOT_BINARY", REPOSITORY / ".build/release/scopepilot"))
    assert binary.is_file(), f"build the daemon first (make test does): no {binary}"
    path = tmp_path_factory.mktemp("log") / "demo.sqlite"
    subprocess.run([str(binary), "demo", "--frames", "4", "--pixels", "128", "--db", str(path)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    return path
