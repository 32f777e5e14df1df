#!/usr/bin/env python3
"""A careless or hostile driver, for testing that the daemon holds.

Binds a feed and a command channel on loopback, welcomes the daemon, answers its commands, and
publishes valid frames interleaved with malformed messages of every kind: bad JSON, wrong types,
wrong part counts and sizes, absurd dimensions, NaN pixels, huge fields, random bytes, unknown
topics, duplicate and out-of-order seqs, and malformed messages that claim a valid frame's seq.
It keeps every valid frame and answers `resend_frames` with them (the others are `missing`).

Prints one JSON line with its endpoints when ready, and when it has sent everything and the daemon
has said goodbye (or `--linger` seconds have passed) one with what it sent:
{"valid": [seqs], "malformed": N, "session": "..."}.

    python hostile_driver.py --messages 3000 --seed 1 --parent-pid PID
"""

import argparse
import json
import os
import random
import sys
import time

import numpy as np
import zmq

PROTOCOL = "1.1"


def dumps(obj):
    return json.dumps(obj, allow_nan=False).encode()


class Hostile:
    def __init__(self, args):
        self.rng = random.Random(args.seed)
        self.args = args
        self.session = "drv-hostile-%d" % args.seed
        ctx = zmq.Context.instance()
        self.pub = ctx.socket(zmq.PUB)
        self.pub.setsockopt(zmq.SNDHWM, 1_000_000)  # a careless driver never drops; the daemon must cope
        self.pub.setsockopt(zmq.LINGER, 2000)
        self.pub.bind("tcp://127.0.0.1:*")
        self.router = ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.router.bind("tcp://127.0.0.1:*")
        self.frames = {}  # seq -> parts of a valid frame
        self.peer = None
        self.resends = 0

    def endpoint(self, sock):
        return sock.getsockopt(zmq.LAST_ENDPOINT).decode()

    def header(self, seq, width=16, height=16, dtype="uint16", **extra):
        h = {"protocol": PROTOCOL, "session": self.session, "seq": seq,
             "time": {"start": 1000.0 + seq, "end": 1000.5 + seq},
             "scan": {"center_x_nm": 0.0, "center_y_nm": 0.0, "fov_x_nm": 3.2, "fov_y_nm": 3.2,
                      "width": width, "height": height, "dwell_us": 1.0, "rotation_deg": 0.0},
             "stage": {"x_nm": 0.0, "y_nm": 0.0}, "channels": ["HAADF"], "dtype": dtype,
             "shape": [height, width]}
        h.update(extra)
        return h

    def valid(self, seq):
        pixels = np.asarray([self.rng.randrange(100, 200) for _ in range(256)], dtype="<u2").reshape(16, 16)
        parts = [b"frame", dumps(self.header(seq)), pixels.tobytes()]
        self.frames[seq] = parts
        return parts

    def malformed(self, seq, kind):
        good = np.zeros((16, 16), dtype="<u2").tobytes()
        if kind == "not_json":
            return [b"frame", b'{"seq": %d, this is not JSON' % seq, good]
        if kind == "wrong_type":
            header = self.header(seq)
            header["seq"] = str(seq)
            return [b"frame", dumps(header), good]
        if kind == "part_count":
            return [b"frame", dumps(self.header(seq))]
        if kind == "payload_size":  # salvageable: claims `seq`
            return [b"frame", dumps(self.header(seq)), good[:7]]
        if kind == "absurd_size":
            return [b"frame", dumps(self.header(seq, width=10 ** 9, height=10 ** 9)), good]
        if kind == "nan":
            values = np.zeros((16, 16), dtype="<f4")
            values[3, 4] = np.nan
            return [b"frame", dumps(self.header(seq, dtype="float32")), values.tobytes()]
        if kind == "huge_field":  # a channel name far beyond the protocol's 256 characters
            return [b"frame", dumps(self.header(seq, channels=["x" * self.args.huge])), good]
        if kind == "random":
            return [bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(1, 64)))
                    for _ in range(self.rng.randrange(1, 4))]
        if kind == "topic":
            return [b"frames", dumps(self.header(seq)), good]
        raise ValueError(kind)

    KINDS = ["not_json", "wrong_type", "part_count", "payload_size", "absurd_size", "nan", "huge_field",
             "random", "topic"]

    def reply(self, msg):
        self.router.send_multipart([self.peer, dumps({"protocol": PROTOCOL, **msg})])

    def answer(self):
        """Answers what the daemon has sent so far; returns False once it said nothing for a while."""
        while self.router.poll(0):
            peer, envelope = self.router.recv_multipart()[:2]
            self.peer = peer
            try:
                msg = json.loads(envelope)
            except ValueError:
                continue
            kind = msg.get("type")
            if kind == "hello":
                self.reply({"type": "welcome", "id": msg["id"], "driver": "hostile/1", "instrument": "nothing",
                            "session": self.session, "capabilities": ["scan_region", "blank_beam", "unblank_beam",
                                                                      "resend_frames", "abort", "get_state",
                                                                      "move_stage", "acquire_reference"],
                            "limits": {"stage_x_nm": [-1e4, 1e4], "stage_y_nm": [-1e4, 1e4], "fov_nm": [0.1, 1e4],
                                       "dwell_us": [0.1, 1e3], "pixels": [8, 4096], "detectors": ["HAADF"]},
                            "heartbeat_ms": 1000, "watchdog_ms": 60000})
            elif kind == "command":
                cid, action = msg["id"], msg.get("action")
                self.reply({"type": "ack", "id": cid})
                readback = {"session": self.session}
                if action == "resend_frames":
                    p = msg.get("params", {})
                    sent, missing = [], []
                    for seq in range(p["from_seq"], p["to_seq"] + 1):
                        if seq in self.frames:
                            topic, header, *pixels = self.frames[seq]
                            h = json.loads(header)
                            h["resent"] = True
                            self.router.send_multipart([self.peer, dumps({"protocol": PROTOCOL, "type": "frame",
                                                                          "in_reply_to": cid}), dumps(h), *pixels])
                            sent.append(seq)
                        else:
                            missing.append(seq)
                    self.resends += 1
                    readback.update(frames=sent, missing=missing)
                elif action in ("blank_beam", "unblank_beam"):
                    readback["beam_blanked"] = action == "blank_beam"
                self.reply({"type": "done", "id": cid, "readback": readback})

    def run(self):
        print(json.dumps({"feed": self.endpoint(self.pub), "control": self.endpoint(self.router),
                          "session": self.session}), flush=True)
        # Wait for the daemon's HELLO, then give its subscription a moment to arrive.
        deadline = time.time() + 30
        while self.peer is None and time.time() < deadline:
            self.router.poll(100)
            self.answer()
        time.sleep(0.5)
        seq, malformed, valid = 0, 0, []
        pending = []  # valid frames held back, to publish out of order
        for n in range(self.args.messages):
            self.answer()
            roll = self.rng.random()
            if roll < self.args.valid_fraction:
                parts = self.valid(seq)
                valid.append(seq)
                if self.rng.random() < 0.2:
                    pending.append(parts)  # later, after other messages: out of order
                else:
                    self.pub.send_multipart(parts)
                    if self.rng.random() < 0.05:
                        self.pub.send_multipart(parts)  # a duplicate
                if self.rng.random() < 0.1:
                    # A malformed message that claims this frame's seq (salvageable header).
                    self.pub.send_multipart(self.malformed(seq, "payload_size"))
                    malformed += 1
                seq += 1
            else:
                kind = self.rng.choice(self.KINDS)
                # Mostly seqs of frames that never come; sometimes one that does come later.
                claimed = seq if self.rng.random() < 0.3 else seq + 10 ** 6 + n
                self.pub.send_multipart(self.malformed(claimed, kind))
                malformed += 1
            if pending and self.rng.random() < 0.3:
                self.pub.send_multipart(pending.pop(0))
            if n % 50 == 0:
                time.sleep(0.002)
        for parts in pending:
            self.pub.send_multipart(parts)
        end = time.time() + self.args.linger
        while time.time() < end:
            self.router.poll(50)
            self.answer()
        print(json.dumps({"valid": valid, "malformed": malformed, "session": self.session,
                          "resends": self.resends}), flush=True)
        # Keep answering (the daemon's final blank) until told to stop.
        while True:
            if self.args.parent_pid is not None:
                try:
                    os.kill(self.args.parent_pid, 0)
                except ProcessLookupError:
                    return
            self.router.poll(100)
            self.answer()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--valid-fraction", type=float, default=0.3)
    parser.add_argument("--huge", type=int, default=1_000_000, help="characters of the huge field")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--linger", type=float, default=8.0, help="seconds to answer resends after the flood")
    parser.add_argument("--parent-pid", type=int)
    args = parser.parse_args()
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    Hostile(args).run()


if __name__ == "__main__":
    main()
