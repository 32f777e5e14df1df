"""The policy's side of the policy protocol (docs/POLICY_PROTOCOL.md): connects to the daemon, loads
the policy class the policy file names, and answers every observation with its decision.

The daemon starts it as ``python -m scopepilot.host`` with ``SCOPEPILOT_POLICY_ENDPOINT`` set; a
policy author never runs it by hand (``scopepilot.replay`` runs a policy outside the daemon).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import zmq

from . import PROTOCOL
from .actions import Decision, InvalidDecision
from .observation import Observation
from .policy import Policy

_DTYPES = {"float32": np.dtype("<f4"), "int32": np.dtype("<i4")}


class SetupError(Exception):
    """The policy named by the setup could not be made: the message says why."""


def load_policy(script: str, class_name: str, parameters: Dict[str, Any]) -> Policy:
    """Imports ``script`` (a path) and constructs ``class_name`` with ``parameters`` as keyword arguments."""
    path = Path(script)
    if not path.is_file():
        raise SetupError(f"the policy script {script} does not exist")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise SetupError(f"{script} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)  # exceptions propagate with the policy's own traceback
    cls = getattr(module, class_name, None)
    if cls is None:
        names = [n for n, v in vars(module).items() if isinstance(v, type) and issubclass(v, Policy) and v is not Policy]
        raise SetupError(f"{script} has no class {class_name}; its policies: {', '.join(names) or 'none'}")
    if not (isinstance(cls, type) and issubclass(cls, Policy)):
        raise SetupError(f"{class_name} in {script} is not a subclass of scopepilot.Policy")
    try:
        return cls(**parameters)
    except TypeError as error:
        raise SetupError(f"{class_name}({', '.join(f'{k}=' for k in parameters)}): {error}") from error


def decode_arrays(descriptions: List[Dict[str, Any]], parts: List[bytes]) -> Dict[str, np.ndarray]:
    """The observation's arrays from their descriptions and raw parts."""
    if len(descriptions) != len(parts):
        raise ValueError(f"{len(descriptions)} arrays described, {len(parts)} parts sent")
    arrays = {}
    for description, part in zip(descriptions, parts):
        dtype = _DTYPES.get(description.get("dtype"))
        if dtype is None:
            raise ValueError(f"array {description.get('name')}: unknown dtype {description.get('dtype')!r}")
        shape = tuple(int(n) for n in description["shape"])
        expected = int(np.prod(shape)) * dtype.itemsize
        if len(part) != expected:
            raise ValueError(f"array {description['name']}: {len(part)} bytes for shape {shape} of {dtype}")
        arrays[description["name"]] = np.frombuffer(part, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))
    return arrays


class Host:
    """One policy process's connection to the daemon."""

    def __init__(self, endpoint: str, context: Optional[zmq.Context] = None):
        self.context = context or zmq.Context.instance()
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 2000)
        self.socket.connect(endpoint)
        self.parent = os.getppid()

    def send(self, message: Dict[str, Any]) -> None:
        message = {"protocol": PROTOCOL, **message}
        self.socket.send(json.dumps(message, allow_nan=False).encode())

    def receive(self, timeout_s: Optional[float]) -> Optional[Tuple[Dict[str, Any], List[bytes]]]:
        """The next message, or None when none came in ``timeout_s`` (None: as long as the daemon
        lives; a session may pause for hours) or the daemon that started this process has gone."""
        waited = 0.0
        while timeout_s is None or waited < timeout_s:
            if self.socket.poll(500):
                parts = self.socket.recv_multipart()
                return json.loads(parts[0]), parts[1:]
            waited += 0.5
            if os.getppid() != self.parent:
                return None
        return None

    def error(self, message: str, message_id: Optional[str] = None, trace: Optional[str] = None) -> None:
        reply: Dict[str, Any] = {"type": "error", "message": message[:2000]}
        if message_id is not None:
            reply["id"] = message_id
        if trace:
            reply["traceback"] = trace[-4000:]
        self.send(reply)

    def serve(self) -> int:
        """Says hello, sets the policy up, answers observations until ``end``; the exit status."""
        self.send({"type": "hello"})
        received = self.receive(30)
        if received is None:
            return 2
        setup, _ = received
        if setup.get("type") != "setup":
            self.error(f"expected setup, got {setup.get('type')!r}")
            return 2
        try:
            policy = load_policy(setup["script"], setup["class"], setup.get("parameters") or {})
            ready = {
                "type": "ready",
                "name": str(policy.name),
                "version": str(policy.version),
                "parameters": _plain(policy.parameters),
                "waits_for_analysis": bool(policy.waits_for_analysis),
                "wants": list(policy.wants),
            }
            self.send(ready)
        except Exception as error:  # the policy's own failure, reported with its traceback
            self.error(f"{type(error).__name__}: {error}", trace=traceback.format_exc())
            return 1
        visits: List[Any] = []  # the session map's visits so far: each observation sends only new ones
        while True:
            received = self.receive(None)
            if received is None:
                return 0  # the daemon has gone
            message, parts = received
            kind = message.get("type")
            if kind == "end":
                return 0
            if kind != "observe":
                continue
            message_id = message.get("id")
            try:
                observation = Observation.from_wire(
                    message["observation"], decode_arrays(message.get("arrays", []), parts), visits)
                visits = observation.map.visits
            except Exception as error:
                self.error(f"the observation could not be read: {error}", message_id, traceback.format_exc())
                continue
            try:
                decision = policy.decide(observation)
                if not isinstance(decision, Decision):
                    raise InvalidDecision(f"decide returned {decision!r}, not a scopepilot.Decision")
                self.send({"type": "decision", "id": message_id, **decision.to_wire()})
            except Exception as error:
                self.error(f"{type(error).__name__}: {error}", message_id, traceback.format_exc())


def _plain(value: Any) -> Any:
    """``value`` as JSON can carry it (other values as their repr)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def _end_with_parent(parent: int) -> None:
    """Ends this process within half a second of the daemon that started it going, whatever the
    policy is doing then: a daemon that crashed or was killed cannot end its children, and a policy
    busy in ``decide`` would otherwise compute on, unwatched, for as long as it likes."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


def main() -> int:
    endpoint = os.environ.get("SCOPEPILOT_POLICY_ENDPOINT")
    if not endpoint:
        print("SCOPEPILOT_POLICY_ENDPOINT is not set: the daemon starts this program", file=sys.stderr)
        return 2
    threading.Thread(target=_end_with_parent, args=(os.getppid(),), name="parent-watch", daemon=True).start()
    host = Host(endpoint)
    try:
        return host.serve()
    finally:
        host.socket.close()


if __name__ == "__main__":
    sys.exit(main())
