"""The session report and the live view in a real browser: headless Chromium (make test installs
the Debian package chromium-headless-shell) loads each page, runs its scripts, and the tests read
the DOM it built and check that a screenshot is not blank."""

import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import zlib
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("SCOPEPILOT_BINARY", REPOSITORY / ".build/release/scopepilot"))


def chromium(*arguments, timeout=120):
    """Runs headless Chromium; its standard output (the DOM with --dump-dom)."""
    program = shutil.which("chromium-headless-shell") or shutil.which("chromium")
    assert program, "no headless Chromium: make test installs the Debian package chromium-headless-shell"
    done = subprocess.run([program, "--no-sandbox", "--disable-gpu", "--headless", *arguments],
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def png_pixels(path):
    """The RGB(A) pixels of an 8-bit PNG (Chromium's screenshots), as an array rows x columns x channels."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    position, chunks, header = 8, [], None
    while position < len(data):
        length = int.from_bytes(data[position:position + 4], "big")
        kind = data[position + 4:position + 8]
        body = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        position += 12 + length
    width, height = int.from_bytes(header[0:4], "big"), int.from_bytes(header[4:8], "big")
    depth, colour = header[8], header[9]
    assert depth == 8 and colour in (2, 6), f"unexpected PNG kind: depth {depth}, colour type {colour}"
    channels = 3 if colour == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(chunks)), dtype=np.uint8).reshape(height, 1 + width * channels)
    image = np.zeros((height, width * channels), dtype=np.int32)
    for row in range(height):
        kind, line = raw[row, 0], raw[row, 1:].astype(np.int32)
        above = image[row - 1] if row > 0 else np.zeros_like(line)
        if kind == 0:
            image[row] = line
        elif kind == 2:
            image[row] = (line + above) % 256
        else:
            # Sub, Average and Paeth depend on the pixel to the left: reconstructed byte by byte.
            out = np.zeros_like(line)
            for i in range(len(line)):
                left = out[i - channels] if i >= channels else 0
                corner = above[i - channels] if i >= channels else 0
                if kind == 1:
                    predictor = left
                elif kind == 3:
                    predictor = (left + above[i]) // 2
                else:
                    p = left + above[i] - corner
                    pa, pb, pc = abs(p - left), abs(p - above[i]), abs(p - corner)
                    predictor = left if pa <= pb and pa <= pc else (above[i] if pb <= pc else corner)
                out[i] = (line[i] + predictor) % 256
            image[row] = out
    return image.reshape(height, width, channels)[:, :, :3]


def not_blank(path):
    """The fraction of non-white pixels and the number of distinct colours of a screenshot."""
    pixels = png_pixels(path)
    coloured = np.any(pixels < 235, axis=2).mean()
    distinct = len(np.unique(pixels.reshape(-1, 3) // 8, axis=0))
    return coloured, distinct


def frames_logged(database):
    with sqlite3.connect(database) as log:
        return log.execute("SELECT COUNT(*) FROM frames").fetchone()[0]


def test_the_report_renders_its_map_and_timeline(tmp_path):
    database = tmp_path / "demo.sqlite"
    subprocess.run([str(BINARY), "demo", "--frames", "30", "--pixels", "128", "--db", str(database)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    subprocess.run([str(BINARY), "report", "latest", "--db", str(database), "--out", str(tmp_path / "report")],
                   check=True, stdout=subprocess.DEVNULL, timeout=120)
    page = (tmp_path / "report" / "index.html").as_uri()
    dom = chromium("--dump-dom", page)
    assert 'data-zoomable="' in dom, "the page's script did not run to its end"
    assert int(re.search(r'data-zoomable="(\d+)"', dom).group(1)) >= 1
    assert dom.count('class="region"') == frames_logged(database) == 30
    timeline = dom[dom.index('class="timeline"'):]
    timeline = timeline[:table_end(timeline)]
    assert timeline.count("<tr") > 30, "a row per decision"
    assert dom.count('class="detection"') > 0
    shot = tmp_path / "report.png"
    chromium("--window-size=1200,1600", f"--screenshot={shot}", page)
    coloured, distinct = not_blank(shot)
    assert coloured > 0.05 and distinct > 30, f"the report's screenshot looks blank ({coloured:.3f}, {distinct})"


def table_end(text):
    end = text.find("</table>")
    return end if end >= 0 else len(text)


def test_the_live_view_follows_a_demo_and_a_stuck_page_loses_nothing(tmp_path):
    database = tmp_path / "live.sqlite"
    demo = subprocess.Popen(
        [str(BINARY), "demo", "--minutes", "3", "--pixels", "128", "--db", str(database), "--dashboard", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    # Its output is read all along: a full pipe would hold the demo up.
    lines, listening = [], threading.Event()

    def read_output():
        for line in demo.stdout:
            lines.append(line)
            if line.startswith("live view: "):
                listening.set()

    reader = threading.Thread(target=read_output, daemon=True)
    reader.start()
    stuck = None
    try:
        assert listening.wait(120), "the demo never printed the live view's address: " + "".join(lines)[-2000:]
        url = next(line.split()[2] for line in lines if line.startswith("live view: "))
        port = int(re.search(r":(\d+)/", url).group(1))
        # A page that asks for the events and never reads them.
        stuck = socket.create_connection(("127.0.0.1", port))
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        stuck.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        time.sleep(2)
        # ?updates=N: the page stops listening after N updates, so that the browser can dump its DOM.
        dom = chromium("--virtual-time-budget=10000", "--dump-dom", url + "?updates=6")
        updates = re.search(r'data-count="(\d+)" data-first-frames="(\d+)"', dom)
        assert updates, "the page never received an update"
        count, first = int(updates.group(1)), int(updates.group(2))
        frames = int(re.search(r'id="frames">(\d+)<', dom).group(1))
        assert count == 6, f"{count} updates in the page's life"
        assert frames > first, f"the frame count did not advance ({first} -> {frames})"
        assert dom.count('class="region') >= 1 and 'src="frame/' in dom
        shot = tmp_path / "live.png"
        chromium("--virtual-time-budget=10000", "--window-size=1200,1000", f"--screenshot={shot}", url + "?updates=10")
        coloured, distinct = not_blank(shot)
        assert coloured > 0.05 and distinct > 20, f"the live page's screenshot looks blank ({coloured:.3f}, {distinct})"
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(60)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
        if stuck:
            stuck.close()
    reader.join(10)
    output = "".join(lines)
    assert demo.returncode == 0, output[-2000:]
    # Every frame the driver published was logged although one page never read a byte.
    logged = frames_logged(database)
    summary = re.search(r"frames\s+(\d+) received and logged", output)
    assert summary and int(summary.group(1)) == logged > 0, output[-2000:]
