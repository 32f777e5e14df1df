#!/usr/bin/env python3
"""A daemon-side peer written from docs/PROTOCOL.md alone, used to check a driver.

Connects to a driver's feed and command channel, exercises every command and the refusal rules,
validates every message against the document, and prints one JSON line: {"ok": true, ...} and exit
status 0 when everything held, {"ok": false, "failure": "..."} and status 1 otherwise.

    python protocol_client.py --feed tcp://127.0.0.1:5555 --control tcp://127.0.0.1:5556 [--keys DIR]
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import zmq

PROTOCOL = "1.0"
SCAN_FIELDS = ["center_x_nm", "center_y_nm", "fov_x_nm", "fov_y_nm", "width", "height", "dwell_us", "rotation_deg"]


class CheckFailed(Exception):
    pass


def check(condition, what):
    if not condition:
        raise CheckFailed(what)


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def validate_header(header, parts):
    """Checks a frame header and its pixel parts against section 3.2; returns the decoded images."""
    check(header.get("protocol", "").split(".")[0] == "1", f"protocol {header.get('protocol')!r}")
    check(isinstance(header.get("session"), str) and header["session"], "session")
    check(isinstance(header.get("seq"), int) and header["seq"] >= 0, "seq")
    time_ = header.get("time", {})
    check(is_number(time_.get("start")) and is_number(time_.get("end")) and time_["end"] >= time_["start"], "time")
    scan = header.get("scan", {})
    for key in SCAN_FIELDS:
        check(is_number(scan.get(key)), f"scan.{key}")
    check(scan["fov_x_nm"] > 0 and scan["fov_y_nm"] > 0 and scan["dwell_us"] > 0, "scan ranges")
    check(is_number(header.get("stage", {}).get("x_nm")) and is_number(header["stage"].get("y_nm")), "stage")
    channels = header.get("channels")
    check(isinstance(channels, list) and channels and len(set(channels)) == len(channels), "channels")
    check(header.get("dtype") in ("uint16", "float32"), "dtype")
    check(header.get("shape") == [scan["height"], scan["width"]], "shape")
    check(len(parts) == len(channels), f"{len(parts)} pixel parts for {len(channels)} channels")
    dtype = {"uint16": "<u2", "float32": "<f4"}[header["dtype"]]
    images = {}
    for name, part in zip(channels, parts):
        check(len(part) == scan["width"] * scan["height"] * np.dtype(dtype).itemsize, f"payload size of {name}")
        image = np.frombuffer(part, dtype=dtype).reshape(scan["height"], scan["width"])
        check(np.isfinite(image.astype(np.float64)).all(), f"finite pixels in {name}")
        images[name] = image
    return images


class Client:
    def __init__(self, feed, control, keys=None):
        ctx = zmq.Context.instance()
        self.sub = ctx.socket(zmq.SUB)
        self.dealer = ctx.socket(zmq.DEALER)
        self.dealer.setsockopt(zmq.IMMEDIATE, 1)
        for sock in (self.sub, self.dealer):
            sock.setsockopt(zmq.LINGER, 2000)
        if keys:
            from zmq import auth as zmq_auth
            public, secret = zmq_auth.load_certificate(os.path.join(keys, "daemon.key_secret"))
            server, _ = zmq_auth.load_certificate(os.path.join(keys, "driver.key"))
            for sock in (self.sub, self.dealer):
                sock.curve_secretkey = secret
                sock.curve_publickey = public
                sock.curve_serverkey = server
        self.sub.setsockopt(zmq.SUBSCRIBE, b"frame")
        self.sub.connect(feed)
        self.dealer.connect(control)
        self.counter = 0
        self.heartbeats = 0

    def send(self, message, raw=False):
        envelope = message if raw else {"protocol": PROTOCOL, **message}
        self.dealer.send(json.dumps(envelope).encode())

    def receive(self, timeout=5.0):
        """The next non-heartbeat message from the driver: (envelope, extra parts)."""
        end = time.monotonic() + timeout
        while True:
            remaining = end - time.monotonic()
            check(remaining > 0 and self.dealer.poll(int(remaining * 1000)), "a reply from the driver in time")
            envelope, *extra = self.dealer.recv_multipart()
            message = json.loads(envelope)
            check(message.get("protocol", "").split(".")[0] == "1", "reply protocol version")
            if message.get("type") == "heartbeat":
                check(is_number(message.get("sent_at")), "heartbeat sent_at")
                self.heartbeats += 1
                continue
            return message, extra

    def command(self, action, params, deadline_ms=5000, command_id=None):
        """Sends a command; returns (first reply, final reply or None, re-sent frames)."""
        if command_id is None:
            self.counter += 1
            command_id = f"py-{self.counter}"
        self.send({"type": "command", "id": command_id, "deadline_ms": deadline_ms, "action": action, "params": params})
        first, _ = self.receive()
        check(first.get("id") == command_id, f"reply id {first.get('id')!r} for {command_id}")
        if first["type"] == "reject":
            check(isinstance(first.get("code"), str) and isinstance(first.get("reason"), str), "reject fields")
            return first, None, []
        check(first["type"] == "ack", f"ack for {action}, got {first['type']}")
        frames = []
        while True:
            message, extra = self.receive()
            if message["type"] == "frame":
                check(message.get("in_reply_to") == command_id, "frame in_reply_to")
                header = json.loads(extra[0])
                validate_header(header, extra[1:])
                frames.append(header)
                continue
            check(message.get("id") == command_id and message["type"] in ("done", "failed"), f"final reply for {command_id}")
            return first, message, frames

    def frame(self, timeout=5.0):
        check(self.sub.poll(int(timeout * 1000)), "a frame on the feed in time")
        topic, header_bytes, *parts = self.sub.recv_multipart()
        check(topic == b"frame", "topic")
        header = json.loads(header_bytes)
        return header, validate_header(header, parts)


def scan_params(x=0.0, y=0.0, width=64, height=32, fov=8.0, channels=None):
    params = {"center_x_nm": x, "center_y_nm": y, "fov_x_nm": fov, "fov_y_nm": fov * height / width,
              "width": width, "height": height, "dwell_us": 2.0, "rotation_deg": 0.0}
    if channels:
        params["channels"] = channels
    return params


def run(client):
    checks = []
    client.send({"type": "hello", "id": "hello-py", "client": "protocol_client.py", "heartbeat_ms": 1000})
    welcome, _ = client.receive()
    check(welcome["type"] == "welcome" and welcome["id"] == "hello-py", "welcome")
    for key in ("driver", "instrument", "session"):
        check(isinstance(welcome.get(key), str) and welcome[key], f"welcome.{key}")
    limits = welcome["limits"]
    for key in ("stage_x_nm", "stage_y_nm", "fov_nm", "dwell_us", "pixels"):
        check(isinstance(limits.get(key), list) and len(limits[key]) == 2 and limits[key][0] <= limits[key][1], f"limits.{key}")
    check(set(welcome["capabilities"]) >= {"scan_region", "move_stage", "get_state", "resend_frames"}, "capabilities")
    checks.append("hello")

    # Slow joiner: scan until the feed delivers.
    for _ in range(100):
        client.command("scan_region", scan_params(width=16, height=16))
        if client.sub.poll(50):
            while client.sub.poll(50):
                client.sub.recv_multipart()
            break
    else:
        raise CheckFailed("the feed never delivered a frame")

    seqs = []
    for i in range(3):
        ack, done, _ = client.command("scan_region", scan_params(x=10.0 * i, channels=["HAADF", "MAADF"]))
        check(done["type"] == "done", f"scan {i} done")
        readback = done["readback"]
        header, images = client.frame()
        check(header["seq"] in readback["frames"], "frame seq matches done.readback.frames")
        check(header.get("command_id") == ack["id"], "frame command_id")
        check(header["channels"] == ["HAADF", "MAADF"], "frame channels")
        check(images["HAADF"].shape == (32, 64), "image shape")
        check(readback["scan"]["width"] == 64, "readback scan")
        seqs.append(header["seq"])
    check(seqs == sorted(seqs) and len(set(seqs)) == 3, "increasing seqs")
    checks.append("scan_region")

    # A readback is where the stage really is: near the target, within the stage's accuracy.
    near = lambda value, target: abs(value - target) < 20.0
    _, done, _ = client.command("move_stage", {"x_nm": 250.0, "y_nm": -125.0})
    check(done["type"] == "done" and near(done["readback"]["stage"]["x_nm"], 250.0), "move_stage readback")
    _, done, _ = client.command("get_state", {})
    check(near(done["readback"]["stage"]["y_nm"], -125.0) and isinstance(done["readback"]["beam_blanked"], bool), "get_state")
    checks.append("move_stage+get_state")

    _, done, resent = client.command("resend_frames", {"from_seq": seqs[0], "to_seq": seqs[-1]})
    check([h["seq"] for h in resent] == seqs and all(h.get("resent") is True for h in resent), "re-sent frames")
    check(done["readback"]["frames"] == seqs and done["readback"]["missing"] == [], "resend readback")
    checks.append("resend_frames")

    params = scan_params(width=32, height=32)
    params["count"] = 2
    _, done, _ = client.command("acquire_reference", params)
    check(done["type"] == "done" and len(done["readback"]["frames"]) == 2, "acquire_reference readback")
    for seq in done["readback"]["frames"]:
        header, _ = client.frame()
        check(header["seq"] == seq and header.get("purpose") == "reference", "reference frame on the feed")
    checks.append("acquire_reference")

    _, done, _ = client.command("blank_beam", {})
    check(done["readback"]["beam_blanked"] is True, "blank_beam readback")
    _, done, _ = client.command("get_state", {})
    check(done["readback"]["beam_blanked"] is True, "get_state after blank_beam")
    _, done, _ = client.command("unblank_beam", {})
    check(done["readback"]["beam_blanked"] is False, "unblank_beam readback")
    _, done, _ = client.command("abort", {})
    check(done["type"] == "done", "abort with nothing running")
    checks.append("blank+unblank+abort")

    reject, _, _ = client.command("scan_region", scan_params(fov=1e9))
    check(reject["type"] == "reject" and reject["code"] == "out_of_range", "out_of_range reject")
    bad = scan_params()
    bad["dwell_us"] = -1
    reject, _, _ = client.command("scan_region", bad)
    check(reject["type"] == "reject" and reject["code"] == "malformed", "malformed reject")
    client.send({"protocol": "2.0", "type": "hello", "id": "hello-future", "client": "x", "heartbeat_ms": 1000}, raw=True)
    reject, _ = client.receive()
    check(reject["type"] == "reject" and reject["id"] == "hello-future" and reject["code"] == "protocol_version",
          "protocol_version reject")
    checks.append("refusals")

    first = client.command("move_stage", {"x_nm": 1.0, "y_nm": 2.0}, command_id="same-id")
    client.command("move_stage", {"x_nm": 5.0, "y_nm": 6.0})
    again = client.command("move_stage", {"x_nm": 1.0, "y_nm": 2.0}, command_id="same-id")
    check(first[1] == again[1], "the same replies for a repeated id")
    _, done, _ = client.command("get_state", {})
    check(near(done["readback"]["stage"]["x_nm"], 5.0), "a repeated id is not carried out again")
    checks.append("idempotent ids")

    end = time.monotonic() + 5
    while client.heartbeats == 0 and time.monotonic() < end:
        if client.dealer.poll(100):
            message = json.loads(client.dealer.recv_multipart()[0])
            if message.get("type") == "heartbeat":
                client.heartbeats += 1
    check(client.heartbeats > 0, "a heartbeat from the driver")
    checks.append("heartbeats")
    return {"ok": True, "frames": len(seqs), "checks": checks}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feed", required=True)
    parser.add_argument("--control", required=True)
    parser.add_argument("--keys", help="folder with daemon.key_secret and driver.key: use CURVE")
    args = parser.parse_args()
    try:
        result = run(Client(args.feed, args.control, args.keys))
    except CheckFailed as e:
        print(json.dumps({"ok": False, "failure": str(e)}), flush=True)
        sys.exit(1)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
