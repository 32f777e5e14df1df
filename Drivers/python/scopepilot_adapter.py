#!/usr/bin/env python3
"""Reference ScopePilot driver adapter, written from docs/PROTOCOL.md alone.

It serves a pretend instrument (a noisy hexagonal lattice) over the ScopePilot wire protocol 1.1:
frames on a PUB socket, commands on a ROUTER socket. To drive a real microscope, subclass
`Instrument` and implement `acquire`, `move_stage`, `set_beam_blanked` and `state` with the
vendor's API; `Adapter` does the protocol (HELLO, idempotent ids, limits, deadlines, ordering,
resend ring buffer, heartbeats, watchdog).

    python scopepilot_adapter.py --feed tcp://127.0.0.1:5555 --control tcp://127.0.0.1:5556

Needs pyzmq and numpy. Run with --help for the options.
"""

import argparse
import collections
import json
import math
import os
import queue
import signal
import sys
import threading
import time
import uuid

import numpy as np
import zmq

PROTOCOL = "1.1"
MAJOR = 1
ACTIONS = ["scan_region", "move_stage", "acquire_reference", "blank_beam", "unblank_beam",
           "get_state", "resend_frames", "abort"]
EXCLUSIVE = {"scan_region", "move_stage", "acquire_reference", "unblank_beam"}
SCAN_FIELDS = ["center_x_nm", "center_y_nm", "fov_x_nm", "fov_y_nm", "width", "height", "dwell_us",
               "rotation_deg"]


class InstrumentError(Exception):
    """A failure the hardware reports; becomes `failed` with this code."""

    def __init__(self, code, reason):
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Aborted(Exception):
    pass


class Instrument:
    """A pretend STEM. Replace the four methods with calls to the vendor's API."""

    identity = {"driver": "scopepilot-python-adapter/1.0", "instrument": "pretend STEM"}
    limits = {"stage_x_nm": [-1e6, 1e6], "stage_y_nm": [-1e6, 1e6], "fov_nm": [0.5, 5000.0],
              "dwell_us": [0.1, 1000.0], "pixels": [16, 4096], "detectors": ["HAADF", "MAADF"]}

    def __init__(self, dtype="uint16", scan_delay=0.0):
        self.dtype = dtype
        self.scan_delay = scan_delay
        self.stage = {"x_nm": 0.0, "y_nm": 0.0}
        self.blanked = False
        self.rng = np.random.default_rng(7)

    def acquire(self, scan, channels, purpose, cancelled):
        """Scan and return (actual scan, stage readback, {channel: 2-D array}, t_start, t_end, optics)."""
        if self.blanked:  # 6.4: a scan needs the beam; the daemon unblanks and sends it again
            raise InstrumentError("beam_blanked", "the beam is blanked; send unblank_beam before scanning")
        t0 = time.time()
        deadline = t0 + self.scan_delay
        while time.time() < deadline:
            if cancelled.is_set():
                raise Aborted()
            time.sleep(0.005)
        w, h = scan["width"], scan["height"]
        pixel = scan["fov_x_nm"] / w
        xs = scan["center_x_nm"] + (np.arange(w) - w / 2) * pixel
        ys = scan["center_y_nm"] + (np.arange(h) - h / 2) * pixel
        x, y = np.meshgrid(xs, ys)
        k = 2 * math.pi / 0.33
        lattice = np.cos(k * x) + np.cos(k * (0.5 * x + 0.866 * y)) + np.cos(k * (-0.5 * x + 0.866 * y))
        images = {}
        for i, name in enumerate(channels):
            image = 200 + 150 * (1.0 if i == 0 else 0.6) * (lattice + 1.5) + self.rng.normal(0, 10, lattice.shape)
            images[name] = image.astype("<u2" if self.dtype == "uint16" else "<f4")
        optics = {"beam_energy_kv": 80.0, "convergence_mrad": 25.2, "probe_current_pa": 30.0}
        return dict(scan), dict(self.stage), images, t0, time.time(), optics

    def move_stage(self, target):
        self.stage = {"x_nm": float(target["x_nm"]), "y_nm": float(target["y_nm"])}
        return dict(self.stage)

    def set_beam_blanked(self, blanked):
        self.blanked = blanked

    def state(self):
        return {"stage": dict(self.stage), "beam_blanked": self.blanked}


def dumps(obj):
    return json.dumps(obj, allow_nan=False).encode()


def check_number(params, key, low=None, high=None, positive=False, integer=False):
    """Returns an error sentence for params[key], or None when it is fine."""
    if key not in params or params[key] is None:
        return f"missing required field 'params.{key}'"
    value = params[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return f"field 'params.{key}' must be a finite number, got {value!r}"
    if integer and value != int(value):
        return f"field 'params.{key}' must be a whole number, got {value!r}"
    if positive and value <= 0:
        return f"field 'params.{key}' must be positive, got {value!r}"
    if low is not None and not (low <= value <= high):
        return f"field 'params.{key}' must be between {low} and {high}, got {value!r}"
    return None


class Adapter:
    """The protocol side: sockets, ids, ordering, deadlines, ring buffer, heartbeats, watchdog."""

    def __init__(self, instrument, feed, control, heartbeat_ms=1000, watchdog_ms=5000, ring=256,
                 keys=None, inject=None):
        self.instrument = instrument
        self.session = "py-" + uuid.uuid4().hex[:8]
        self.heartbeat_ms = heartbeat_ms
        self.watchdog_ms = watchdog_ms
        self.inject = inject or {}
        self.ctx = zmq.Context.instance()
        self.pub = self.ctx.socket(zmq.PUB)
        self.pub.setsockopt(zmq.SNDHWM, 64)
        self.pub.setsockopt(zmq.LINGER, 2000)
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.router.setsockopt(zmq.LINGER, 2000)
        if keys:
            self._enable_curve(keys)
        self.pub.bind(feed)
        self.router.bind(control)
        self.feed_endpoint = self.pub.getsockopt_string(zmq.LAST_ENDPOINT)
        self.control_endpoint = self.router.getsockopt_string(zmq.LAST_ENDPOINT)
        # Replies from the worker thread reach the ROUTER (owned by the main thread) through this pair.
        self.outbox_in = self.ctx.socket(zmq.PAIR)
        self.outbox_in.bind("inproc://outbox-" + self.session)
        self.outbox_out = self.ctx.socket(zmq.PAIR)
        self.outbox_out.connect("inproc://outbox-" + self.session)
        self.seq = 0
        self.ring = collections.OrderedDict()
        self.ring_size = ring
        self.ledger = collections.OrderedDict()  # command id -> replies sent (6.2)
        self.introduced = {}  # peer -> last heard (monotonic)
        self.last_heard = None
        self.watchdog_tripped = False
        self.work = queue.Queue()
        self.running = {}  # command id -> cancel event
        self.lock = threading.Lock()
        self.worker = threading.Thread(target=self._work_loop, daemon=True)
        self.worker.start()

    def _enable_curve(self, keys):
        from zmq import auth as zmq_auth
        from zmq.auth.thread import ThreadAuthenticator
        self.auth = ThreadAuthenticator(self.ctx)
        self.auth.start()
        self.auth.configure_curve(domain="*", location=os.path.join(keys, "authorized"))
        public, secret = zmq_auth.load_certificate(os.path.join(keys, "driver.key_secret"))
        for sock in (self.pub, self.router):
            sock.curve_secretkey = secret
            sock.curve_publickey = public
            sock.curve_server = True

    # -- sending -------------------------------------------------------------------------------

    def _send(self, peer, message, extra=(), record_for=None):
        """Sends from the main thread; `record_for` keeps the reply in the ledger."""
        envelope = {"protocol": PROTOCOL, **message}
        if record_for is not None:
            self.ledger.setdefault(record_for, []).append((envelope, list(extra)))
            while len(self.ledger) > 1024:
                self.ledger.popitem(last=False)
        try:
            self.router.send_multipart([peer, dumps(envelope), *extra])
        except zmq.ZMQError as e:
            log(f"cannot reply to {peer.hex()}: {e}; forgetting it")
            self.introduced.pop(peer, None)

    def _post(self, peer, message, extra=(), record_for=None):
        """Sends from the worker thread, through the outbox."""
        self.outbox_out.send_multipart([peer, dumps({"record_for": record_for}), dumps(message), *extra])

    # -- frames --------------------------------------------------------------------------------

    def _publish(self, scan, stage, images, t0, t1, optics, command_id, purpose):
        channels = list(images.keys())
        dtype = "uint16" if next(iter(images.values())).dtype == np.dtype("<u2") else "float32"
        with self.lock:
            seq = self.seq
            self.seq += 1
        header = {"protocol": PROTOCOL, "session": self.session, "seq": seq,
                  "time": {"start": t0, "end": max(t0, t1)}, "scan": scan, "stage": stage,
                  "channels": channels, "dtype": dtype, "shape": [scan["height"], scan["width"]],
                  "purpose": purpose, "optics": optics}
        if command_id is not None:
            header["command_id"] = command_id
        pixels = [np.ascontiguousarray(images[c]).tobytes() for c in channels]
        fault = self.inject.get(seq)
        if fault == "nan" and dtype == "float32":
            poisoned = np.frombuffer(pixels[0], dtype="<f4").copy()
            poisoned[len(poisoned) // 2] = np.nan
            pixels[0] = poisoned.tobytes()
        elif fault == "short":
            pixels[0] = pixels[0][:-2]
        elif fault == "badheader":
            header = dict(header)
            del header["scan"]
        self.pub.send_multipart([b"frame", dumps(header), *pixels])
        with self.lock:
            self.ring[seq] = (header, pixels)
            while len(self.ring) > self.ring_size:
                self.ring.popitem(last=False)
        return seq

    # -- commands ------------------------------------------------------------------------------

    def _limits_problem(self, action, params):
        limits = self.instrument.limits
        if action in ("scan_region", "acquire_reference"):
            for key in SCAN_FIELDS:
                problem = check_number(params, key, integer=key in ("width", "height"),
                                       positive=key in ("fov_x_nm", "fov_y_nm", "dwell_us", "width", "height"))
                if problem:
                    return "malformed", problem
            if action == "acquire_reference":
                problem = check_number(params, "count", 1, 64, integer=True)
                if problem:
                    return "malformed", problem
            lo, hi = limits["fov_nm"]
            if not (lo <= params["fov_x_nm"] <= hi and lo <= params["fov_y_nm"] <= hi):
                return "out_of_range", f"field of view {params['fov_x_nm']} x {params['fov_y_nm']} nm is outside {lo}...{hi} nm"
            lo, hi = limits["dwell_us"]
            if not lo <= params["dwell_us"] <= hi:
                return "out_of_range", f"dwell {params['dwell_us']} us is outside {lo}...{hi} us"
            lo, hi = limits["pixels"]
            if not (lo <= params["width"] <= hi and lo <= params["height"] <= hi):
                return "out_of_range", f"frame {params['width']} x {params['height']} px is outside {lo}...{hi}"
            for axis, key in (("x", "center_x_nm"), ("y", "center_y_nm")):
                lo, hi = limits[f"stage_{axis}_nm"]
                if not lo <= params[key] <= hi:
                    return "out_of_range", f"scan centre {axis} {params[key]} nm is outside {lo}...{hi} nm"
            for name in params.get("channels") or []:
                if name not in limits["detectors"]:
                    return "out_of_range", f"detector {name!r} is not one of {limits['detectors']}"
        elif action == "move_stage":
            for axis in ("x", "y"):
                problem = check_number(params, f"{axis}_nm")
                if problem:
                    return "malformed", problem
                lo, hi = limits[f"stage_{axis}_nm"]
                if not lo <= params[f"{axis}_nm"] <= hi:
                    return "out_of_range", f"stage {axis} {params[axis + '_nm']} nm is outside {lo}...{hi} nm"
        elif action == "resend_frames":
            for key in ("from_seq", "to_seq"):
                problem = check_number(params, key, 0, 2 ** 63, integer=True)
                if problem:
                    return "malformed", problem
            if not (params["from_seq"] <= params["to_seq"] and params["to_seq"] - params["from_seq"] < 10000):
                return "malformed", "params must ask for 1 to 10000 frames with from_seq <= to_seq"
        return None

    def _handle(self, peer, envelope):
        now = time.monotonic()
        self.last_heard = now
        self.watchdog_tripped = False
        if peer in self.introduced:
            self.introduced[peer] = now
        try:
            message = json.loads(envelope)
            if not isinstance(message, dict):
                raise ValueError("the top level must be a JSON object")
        except ValueError as e:
            self._send(peer, {"type": "error", "code": "not_json", "reason": f"not a valid JSON object: {e}"})
            return
        msg_id = message.get("id") if isinstance(message.get("id"), str) else None
        version = str(message.get("protocol", ""))
        try:
            major = int(version.split(".")[0])
        except ValueError:
            major = None
        if major != MAJOR:
            reason = f"protocol version {version!r} is not compatible with this driver's {PROTOCOL}"
            if msg_id is not None:
                self._send(peer, {"type": "reject", "id": msg_id, "code": "protocol_version", "reason": reason})
            else:
                self._send(peer, {"type": "error", "code": "protocol_version", "reason": reason})
            return
        kind = message.get("type")
        if kind == "hello":
            self.introduced[peer] = now
            self._send(peer, {"type": "welcome", "id": msg_id, **self.instrument.identity, "session": self.session,
                              "capabilities": ACTIONS, "limits": self.instrument.limits,
                              "heartbeat_ms": self.heartbeat_ms, "watchdog_ms": self.watchdog_ms})
        elif kind == "heartbeat":
            if peer not in self.introduced:  # 6.4: a daemon this session does not know (we restarted)
                self._send(peer, {"type": "error", "code": "no_hello",
                                  "reason": f"heartbeat from a peer that has not said hello to session {self.session}"})
        elif kind == "command":
            self._command(peer, message, msg_id, now)
        else:
            self._send(peer, {"type": "error", "code": "unknown_message_type",
                              "reason": f"a driver does not accept {kind!r} messages"})

    def _command(self, peer, message, command_id, received):
        if command_id is None:
            self._send(peer, {"type": "error", "code": "missing_field", "reason": "command without an 'id'"})
            return
        if command_id in self.ledger:  # 6.2: same replies again, no second action
            for envelope, extra in self.ledger[command_id]:
                self.router.send_multipart([peer, dumps(envelope), *extra])
            return
        if peer not in self.introduced:  # not remembered: after hello the same id is a new command (6.2)
            return self._send(peer, {"type": "reject", "id": command_id, "code": "no_hello",
                                     "reason": "say hello before sending commands"})
        self.ledger[command_id] = []
        reject = lambda code, reason: self._send(peer, {"type": "reject", "id": command_id, "code": code,
                                                         "reason": reason}, record_for=command_id)
        action = message.get("action")
        deadline_ms = message.get("deadline_ms")
        if action not in ACTIONS:
            return reject("malformed", f"field 'action' is {action!r}, not one of {ACTIONS}")
        if isinstance(deadline_ms, bool) or not isinstance(deadline_ms, int) or not 1 <= deadline_ms <= 86400000:
            return reject("malformed", f"field 'deadline_ms' must be a whole number 1...86400000, got {deadline_ms!r}")
        params = message.get("params") or {}
        if not isinstance(params, dict):
            return reject("malformed", "field 'params' must be an object")
        problem = self._limits_problem(action, params)
        if problem:
            return reject(*problem)
        self._send(peer, {"type": "ack", "id": command_id}, record_for=command_id)
        deadline = received + deadline_ms / 1000.0
        cancel = threading.Event()
        with self.lock:
            self.running[command_id] = cancel
        if action in EXCLUSIVE:
            self.work.put((peer, command_id, action, params, deadline, cancel))
        else:
            self._execute(peer, command_id, action, params, deadline, cancel, self._send)

    def _work_loop(self):
        while True:
            peer, command_id, action, params, deadline, cancel = self.work.get()
            self._execute(peer, command_id, action, params, deadline, cancel, self._post)

    def _execute(self, peer, command_id, action, params, deadline, cancel, send):
        def finish(message, extra=()):
            with self.lock:
                self.running.pop(command_id, None)
            send(peer, {"id": command_id, **message}, extra, record_for=command_id)

        if time.monotonic() > deadline:
            return finish({"type": "failed", "code": "deadline_exceeded", "reason": "the deadline passed while queued"})
        # The deadline cancels a long call the same way abort does.
        timer = threading.Timer(max(0.0, deadline - time.monotonic()), cancel.set)
        timer.start()
        try:
            readback = self._perform(peer, command_id, action, params, cancel, send)
            if cancel.is_set() and time.monotonic() >= deadline:
                raise TimeoutError()
            finish({"type": "done", "readback": readback})
        except Aborted:
            expired = time.monotonic() >= deadline
            finish({"type": "failed", "code": "deadline_exceeded" if expired else "aborted",
                    "reason": "not done within its deadline" if expired else "aborted"})
        except TimeoutError:
            finish({"type": "failed", "code": "deadline_exceeded", "reason": "not done within its deadline"})
        except InstrumentError as e:
            finish({"type": "failed", "code": e.code, "reason": e.reason})
        except Exception as e:  # the hardware said something unexpected: report, never crash
            finish({"type": "failed", "code": "hardware", "reason": repr(e)})
        finally:
            timer.cancel()

    def _perform(self, peer, command_id, action, params, cancel, send):
        inst = self.instrument
        if action in ("scan_region", "acquire_reference"):
            scan = {key: params[key] for key in SCAN_FIELDS}
            channels = params.get("channels") or inst.limits["detectors"][:1]
            count = params.get("count", 1) if action == "acquire_reference" else 1
            purpose = "reference" if action == "acquire_reference" else "scan"
            seqs = []
            for _ in range(count):
                scan_done, stage, images, t0, t1, optics = inst.acquire(scan, channels, purpose, cancel)
                seqs.append(self._publish(scan_done, stage, images, t0, t1, optics, command_id, purpose))
            return {"scan": scan_done, "stage": stage, "frames": seqs, "last_seq": seqs[-1], "session": self.session}
        if action == "move_stage":
            return {"stage": inst.move_stage(params)}
        if action in ("blank_beam", "unblank_beam"):
            inst.set_beam_blanked(action == "blank_beam")
            return {"beam_blanked": action == "blank_beam"}
        if action == "get_state":
            state = inst.state()
            with self.lock:
                busy = len(self.running) > 1
                last = self.seq - 1
            readback = {**state, "state": "busy" if busy else "idle"}
            if last >= 0:
                readback["last_seq"] = last
            return readback
        if action == "abort":
            target = params.get("command_id")
            with self.lock:
                victims = [e for cid, e in self.running.items() if cid != command_id and (target is None or cid == target)]
            for event in victims:
                event.set()
            return {"state": f"aborted {len(victims)}"}
        if action == "resend_frames":
            sent, missing = [], []
            other_session = params.get("session") not in (None, self.session)  # 1.1: frames of another session
            for seq in range(params["from_seq"], params["to_seq"] + 1):
                with self.lock:
                    kept = None if other_session else self.ring.get(seq)
                if kept is None:
                    missing.append(seq)
                    continue
                header, pixels = kept
                header = dict(header, resent=True)
                send(peer, {"type": "frame", "in_reply_to": command_id}, [dumps(header), *pixels])
                sent.append(seq)
            readback = {"frames": sent, "missing": missing, "session": params.get("session") or self.session}
            if self.seq > 0:  # 4.4: no last_seq before the first frame
                readback["last_seq"] = self.seq - 1
            return readback
        raise InstrumentError("unsupported", f"{action} is not implemented")

    # -- main loop -----------------------------------------------------------------------------

    def serve(self, stop=lambda: False):
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        poller.register(self.outbox_in, zmq.POLLIN)
        next_beat = time.monotonic()
        while not stop():
            for sock, _ in poller.poll(timeout=50):
                if sock is self.router:
                    frames = self.router.recv_multipart()
                    if len(frames) >= 2:
                        self._handle(frames[0], frames[1])
                else:
                    peer, meta, message, *extra = self.outbox_in.recv_multipart()
                    self._send(peer, json.loads(message), extra, record_for=json.loads(meta)["record_for"])
            now = time.monotonic()
            if now >= next_beat:
                next_beat = now + self.heartbeat_ms / 1000.0
                for peer in list(self.introduced):
                    with self.lock:
                        last = self.seq - 1
                    beat = {"type": "heartbeat", "sent_at": time.time(), "session": self.session}
                    if last >= 0:
                        beat["last_seq"] = last
                    self._send(peer, beat)
                silent = self.last_heard is not None and now - self.last_heard > self.watchdog_ms / 1000.0
                if silent and not self.watchdog_tripped:
                    self.watchdog_tripped = True
                    log(f"watchdog: nothing heard from the daemon for {self.watchdog_ms} ms; blanking the beam")
                    self.instrument.set_beam_blanked(True)


def log(text):
    print(f"[adapter] {text}", file=sys.stderr, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feed", default="tcp://127.0.0.1:5555", help="PUB endpoint to bind (port * picks one)")
    parser.add_argument("--control", default="tcp://127.0.0.1:5556", help="ROUTER endpoint to bind")
    parser.add_argument("--dtype", choices=["uint16", "float32"], default="uint16")
    parser.add_argument("--scan-delay", type=float, default=0.0, help="seconds each scan takes")
    parser.add_argument("--heartbeat-ms", type=int, default=1000)
    parser.add_argument("--watchdog-ms", type=int, default=5000)
    parser.add_argument("--keys", help="folder with driver.key_secret and authorized/*.key: enables CURVE")
    parser.add_argument("--parent-pid", type=int, metavar="PID",
                        help="stop (blanking the beam) when process PID has gone, e.g. the program that started this")
    parser.add_argument("--inject", action="append", default=[], metavar="SEQ:FAULT",
                        help="corrupt frame SEQ: nan (float32 only), short (pixel part 2 bytes short), badheader")
    args = parser.parse_args()
    # SIGTERM and SIGINT stop the adapter the same way: the loop ends, the beam is blanked.
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    inject = {int(seq): fault for seq, fault in (item.split(":") for item in args.inject)}
    adapter = Adapter(Instrument(args.dtype, args.scan_delay), args.feed, args.control, args.heartbeat_ms,
                      args.watchdog_ms, keys=args.keys, inject=inject)
    # One line on stdout says where the sockets are, for whoever started the adapter.
    print(json.dumps({"feed": adapter.feed_endpoint, "control": adapter.control_endpoint,
                      "session": adapter.session}), flush=True)

    started_by = os.getppid()

    def parent_gone():
        if args.parent_pid is None:
            return False
        if args.parent_pid == started_by and os.getppid() != started_by:
            return True  # our parent died and we were handed to another
        try:
            os.kill(args.parent_pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
        return False

    adapter.serve(stop=lambda: stopping.is_set() or parent_gone())
    log("stopping: blanking the beam")
    adapter.instrument.set_beam_blanked(True)


if __name__ == "__main__":
    main()
