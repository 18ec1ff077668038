#!/usr/bin/env python3
# tests/sys/xmond_events.t: xmond's live updates (GET /api/events) as a
# black box: the stream bound of --stream-max-pending (set through the
# config file) drops a stream that stops reading and keeps one that reads;
# the event counters of /metrics count what happened; a closed alert whose
# --history ran out is announced as `event: expired` and is gone from the
# API. Real xmond, real xmonraise (lull's agent) and xmonctl, TCP on
# loopback.
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402
from tap import BUILD, closed_by_peer, diag, ok, wait_until  # noqa: E402

XMOND = os.path.join(BUILD, "bin/xmond")
XMONCTL = os.path.join(BUILD, "bin/xmonctl")
XR = os.path.join(BUILD, "tests/sys/xmonraise")


for b in (XMOND, XMONCTL, XR):
    if not os.access(b, os.X_OK):
        print("Bail out! %s is not built (make; make %s)" % (b, XR))
        sys.exit(1)

tmp = tempfile.mkdtemp(prefix="lull-events.")
procs = []


def start(name, *args):
    log = os.path.join(tmp, name + ".log")
    p = subprocess.Popen([XMOND, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--state-dir",
                          os.path.join(tmp, name), "--log", log] + list(args),
                         stderr=open(os.path.join(tmp, name + ".err"), "w"))
    procs.append(p)
    end = time.time() + 20
    while time.time() < end:
        if os.path.exists(log):
            m = re.search(r"protocol on 127\.0\.0\.1:(\d+), HTTP on 127\.0\.0\.1:(\d+)", open(log).read())
            if m:
                return p, int(m.group(1)), int(m.group(2))
        if p.poll() is not None:
            break
        time.sleep(0.02)
    print("Bail out! xmond did not start: %s" % open(os.path.join(tmp, name + ".err")).read())
    sys.exit(1)


def get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metrics(port):
    _, text = get(port, "/metrics")
    m = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            m[k] = v
    return m


def open_stream(port, rcvbuf=0):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)   # before connect: a small window
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /api/events HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n")
    return s


class Reader(threading.Thread):
    """Reads a stream as fast as it comes; keeps everything."""

    def __init__(self, s):
        super().__init__(daemon=True)
        self.s, self.data, self.eof = s, bytearray(), False
        self.lock = threading.Lock()

    def run(self):
        self.s.settimeout(None)
        try:
            while True:
                d = self.s.recv(1 << 16)
                if not d:
                    break
                with self.lock:
                    self.data += d
        except OSError:
            pass
        self.eof = True

    def text(self):
        with self.lock:
            return bytes(self.data).decode("utf-8", "replace")


try:
    # ---- flags and config -----------------------------------------------------------
    h = subprocess.run([XMOND, "--help"], capture_output=True, text=True)
    ok(h.returncode == 0 and "--stream-max-pending BYTES" in h.stdout, "--help explains --stream-max-pending")
    r = subprocess.run([XMOND, "--stream-max-pending", "lots", "--state-dir", os.path.join(tmp, "never")],
                       capture_output=True, text=True)
    ok(r.returncode == 100 and "--stream-max-pending" in r.stderr, "a bad --stream-max-pending exits 100, naming it")

    conf = os.path.join(tmp, "xmond.conf")
    with open(conf, "w") as f:
        f.write("# the bound as a config key\nstream-max-pending = 65536\nhistory = 1s\n")
    xp, pport, hport = start("main", "--config", conf, "--down-grace", "1h")

    m = metrics(hport)
    names = ("xmond_events_published_total", "xmond_events_skipped_total", "xmond_event_streams",
             "xmond_event_streams_opened_total", "xmond_event_streams_dropped_total",
             "xmond_event_stream_bytes_total")
    ok(all(n in m for n in names), "/metrics has the event counters: " + ", ".join(names))
    ok(m.get("xmond_event_streams") == "0" and m.get("xmond_event_streams_dropped_total") == "0",
       "  no stream at first")

    # ---- a slow stream over the bound is dropped, a fast one is not -----------------
    fast = Reader(open_stream(hport))
    fast.start()
    slow = open_stream(hport, rcvbuf=4096)   # reads nothing from here on
    ok(wait_until(lambda: metrics(hport).get("xmond_event_streams") == "2", 10), "two streams open (the gauge says 2)")
    published0 = int(metrics(hport)["xmond_events_published_total"])

    agent = subprocess.Popen([XR, "--server", "127.0.0.1:%d" % pport, "--app-type", "events.t", "--instance", "ev1",
                              "--limit", "5000", "--log", os.path.join(tmp, "xmonraise.log")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    procs.append(agent)
    raised = 0
    # 3 kB events, 4 at a time (what one turn of xmond queues stays well
    # under the bound, so a reader that keeps up is never over it), until
    # the slow one is dropped
    for batch in range(1000):
        for _ in range(4):
            agent.stdin.write("long 0 3000\n")
        agent.stdin.flush()
        for _ in range(4):
            line = agent.stdout.readline()
            raised += line.startswith("raised ")
        if not wait_until(lambda: fast.text().count("event: alert\n") >= raised, 10):
            break
        if batch % 8 == 7 and metrics(hport)["xmond_event_streams_dropped_total"] != "0":
            break
    m = metrics(hport)
    ok(m["xmond_event_streams_dropped_total"] == "1" and m["xmond_event_streams"] == "1",
       "the stream that stopped reading was dropped past 64 KiB unsent after %d events of 3 kB; the reader stays "
       "(dropped %s, open %s)" % (raised, m["xmond_event_streams_dropped_total"], m["xmond_event_streams"]))
    ok(closed_by_peer(slow, 10), "  the dropped stream is closed by xmond")
    ok(wait_until(lambda: fast.text().count("event: alert\n") >= raised, 10) and not fast.eof,
       "  the reading stream got every event (%d) and is still open" % fast.text().count("event: alert\n"))
    m = metrics(hport)
    pub = int(m["xmond_events_published_total"]) - published0
    ok(pub >= raised, "  xmond_events_published_total counted them (%d more, %d raised)" % (pub, raised))
    sent = int(m["xmond_event_stream_bytes_total"])
    ok(sent >= len(fast.data), "  xmond_event_stream_bytes_total >= what the reader read (%d >= %d)"
       % (sent, len(fast.data)))
    ok(m["xmond_event_streams_opened_total"] == "2", "  xmond_event_streams_opened_total is 2")
    log = open(os.path.join(tmp, "main.log")).read()
    dm = re.search(r"event stream dropped: client too slow \((\d+) bytes unsent\)", log)
    ok(dm and 0 < int(dm.group(1)) <= 65536,
       "  xmond logged the drop at the configured bound, not the 1 MiB default (%s bytes unsent)" % (dm and dm.group(1)))
    agent.stdin.close()
    agent.wait(10)

    # ---- a long list (about 3 MB) goes out in chunks, with its Content-Length
    with urllib.request.urlopen("http://127.0.0.1:%d/api/alerts?app_type=events.t" % hport, timeout=20) as r:
        body = r.read()
        clen = r.headers.get("Content-Length")
    doc = json.loads(body)
    ok(clen == str(len(body)) and len(body) > 1000000 and doc["count"] == doc["total"] >= raised and
       all(a["app_type"] == "events.t" and len(a["message"]) == 3000 for a in doc["alerts"]),
       "GET /api/alerts: %d alerts, %d bytes, Content-Length %s, valid JSON" % (doc["count"], len(body), clen))
    keys = [int(a["key"]) for a in doc["alerts"]]
    ok(keys == sorted(keys, reverse=True), "  newest first")
    hr = urllib.request.Request("http://127.0.0.1:%d/api/alerts?app_type=events.t" % hport, method="HEAD")
    with urllib.request.urlopen(hr, timeout=20) as r:
        ok(r.headers.get("Content-Length") == clen and r.read() == b"", "  HEAD announces the same length")
    lim = json.loads(get(hport, "/api/alerts?app_type=events.t&limit=7")[1])
    ok(lim["count"] == 7 and lim["total"] == doc["total"] and lim["alerts"] == doc["alerts"][:7], "  limit=7: the first 7")

    # ---- history expiry is an event ----------------------------------------------------
    ctl = [XMONCTL, "--server", "127.0.0.1:%d" % pport, "--app-type", "expire.t", "--instance", "ex1", "--timeout", "10"]
    aid = subprocess.run(ctl + ["raise", "short-lived"], capture_output=True, text=True).stdout.strip()
    subprocess.run(ctl + ["clear", aid], capture_output=True, text=True)
    key = None

    def cleared():
        global key
        mm = re.search(r'event: alert\ndata: \{"key":"(\d+)","app_type":"expire\.t"[^\n]*"state":"cleared"',
                       fast.text())
        key = mm and mm.group(1)
        return key is not None

    ok(wait_until(cleared, 10), "the page is told the alert was cleared (key %s)" % key)
    want = 'event: expired\ndata: {"key":"%s"}\n\n' % key
    t0 = time.time()
    ok(wait_until(lambda: want in fast.text(), 10),
       "--history 1s: 'event: expired' with its key comes %.1f s later" % (time.time() - t0))
    st, _ = get(hport, "/api/alerts/%s" % key)
    ok(st == 404, "  and the alert is gone from the API (%d)" % st)
    ok(re.search(r'id: [0-9a-f]{16}-\d+\nevent: expired\n', fast.text()) is not None, "  the event has an id")
finally:
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
    if tap.failed():
        for f in sorted(os.listdir(tmp)):
            if f.endswith(".log") or f.endswith(".err"):
                diag("---- %s" % f)
                diag(open(os.path.join(tmp, f), errors="replace").read()[-3000:][:200 if f.startswith("xmonraise") else 3000])
    subprocess.run(["rm", "-rf", tmp])

tap.done()
