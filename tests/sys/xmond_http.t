#!/usr/bin/env python3
# tests/sys/xmond_http.t: cmd/xmond/http.c's server over real TCP on
# loopback, through tests/sys/xmond_httpd (fixed handlers): answers and
# their headers, keep-alive and pipelining, every rejection on the wire,
# a slowloris client, idle keep-alive, the connection bound, a large answer
# read slowly, a client that stops reading, event streams (broadcast, a
# slow stream dropped at its bound, pings), and the server still serving
# after each of these.
import atexit
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402
from tap import BUILD, closed_by_peer, diag, is_, ok  # noqa: E402

HTTPD = os.path.join(BUILD, "tests/sys/xmond_httpd")
SAN = os.environ.get("LULL_SAN") == "1"


if not os.access(HTTPD, os.X_OK):
    print("Bail out! %s is not built" % HTTPD)
    sys.exit(1)

tmp = tempfile.mkdtemp(prefix="lull-http.")
servers = []


@atexit.register
def _kill_servers():
    for p in servers:
        if p.poll() is None:
            p.kill()


def start(*args):
    pf = os.path.join(tmp, "port%d" % len(servers))
    # its log (a warning per failing handler, a line per dropped stream)
    # goes to a file, shown when a test fails
    # stdout not inherited, and killed at exit however the script ends:
    # a server left behind would hold prove's pipe open and hang the run
    p = subprocess.Popen([HTTPD, pf] + [str(a) for a in args], stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(tmp, "httpd%d.log" % len(servers)), "w"))
    servers.append(p)
    end = time.time() + 10
    while time.time() < end:
        if os.path.exists(pf) and open(pf).read().endswith("\n"):
            return p, int(open(pf).read())
        time.sleep(0.01)
    raise SystemExit("Bail out! xmond_httpd did not start")


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s


class Resp:
    pass


def read_response(s, buf=b"", head=False):
    """One response from socket s; returns (Resp, leftover bytes)."""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise EOFError("closed before a full head: %r" % buf)
        buf += d
    h, _, rest = buf.partition(b"\r\n\r\n")
    lines = h.decode("latin-1").split("\r\n")
    r = Resp()
    r.status_line = lines[0]
    r.status = int(lines[0].split(" ")[1])
    r.headers = {}
    r.header_lines = lines[1:]
    for l in lines[1:]:
        k, _, v = l.partition(":")
        r.headers[k.strip().lower()] = v.strip()
    if r.status // 100 == 1:
        r.body = b""
        return r, rest
    n = 0 if head or r.status in (204, 304) else int(r.headers.get("content-length", "0"))
    while len(rest) < n:
        d = s.recv(1 << 20)
        if not d:
            raise EOFError("closed in a body")
        rest += d
    r.body = rest[:n]
    return r, rest[n:]


def request(port, raw, head=False):
    s = connect(port)
    s.sendall(raw)
    r, _ = read_response(s, head=head)
    s.close()
    return r


def get(port, path, extra=""):
    return request(port, ("GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n" % (path, extra)).encode())


def read_to_close(port, raw):
    """Send raw on a new connection, read until the server closes (or
    resets) it: (head, body)."""
    s = connect(port)
    s.sendall(raw)
    data = b""
    while True:
        try:
            d = s.recv(1 << 20)
        except ConnectionResetError:
            break
        if not d:
            break
        data += d
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


def half_close(port, raw):
    """Send raw on a new connection and half-close it: (the answer, whether
    the server then closed the connection)."""
    s = connect(port)
    s.sendall(raw)
    s.shutdown(socket.SHUT_WR)
    r, _ = read_response(s)
    closed = closed_by_peer(s)
    s.close()
    return r, closed


def stats(port):
    r = get(port, "/stats")
    return dict(l.split("=") for l in r.body.decode().split())


def serving(port):
    try:
        return get(port, "/hello").body == b"hello\n"
    except Exception as e:
        diag("not serving: %r" % e)
        return False


# idle 1.5 s, request 1 s, write 1.5 s, 64 connections, 64 KiB per stream
proc, port = start(1500, 1000, 1500, 64, 65536, 0)

# ---- answers and headers
r = get(port, "/hello")
is_((r.status, r.body), (200, b"hello\n"), "GET /hello")
is_(r.headers.get("content-type"), "text/plain; charset=utf-8", "default content type")
is_(r.headers.get("x-content-type-options"), "nosniff", "nosniff")
is_(r.headers.get("referrer-policy"), "no-referrer", "no referrer")
is_(r.headers.get("content-security-policy"), "default-src 'self'; frame-ancestors 'none'", "default CSP")
is_(r.headers.get("cache-control"), "no-store", "no-store by default")
ok(r.headers.get("date", "").endswith(" GMT") and len(r.headers["date"]) == 29, "Date in IMF-fixdate: %s" % r.headers.get("date"))
ok("connection" not in r.headers, "HTTP/1.1 keep-alive: no Connection header")
r = get(port, "/csp")
ok(r.headers.get("content-security-policy") == "default-src 'none'" and "cache-control" not in r.headers
   and r.headers.get("x-test") == "1", "a handler overrides CSP, drops Cache-Control, adds a header")
r = request(port, b"HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n", head=True)
is_((r.status, r.headers.get("content-length")), (200, "6"), "HEAD: the length of the GET body")
r = request(port, b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: x/y\r\nContent-Length: 11\r\n\r\nhello\0world")
is_((r.status, r.body), (200, b"hello\0world"), "POST body echoed, NUL included")
r = request(port, b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
ok(r.status == 405 and r.headers.get("allow") == "POST", "handler's own 405 with Allow")
r = get(port, "/hdr", "Authorization: Bearer x\r\nOrigin: http://a\r\nSec-Fetch-Site: same-origin\r\n"
        "Last-Event-ID: 7\r\nCookie: c=1\r\nX-CSRF-Token: tok\r\nAccept: */*\r\nContent-Type: a/b\r\n")
is_(r.body.decode(), "host=t\nauthorization=Bearer x\norigin=http://a\nsec-fetch-site=same-origin\n"
    "content-type=a/b\nlast-event-id=7\ncookie=c=1\nx-csrf-token=tok\naccept=*/*\nkeep_alive=1\n",
    "the kept headers reach the handler")
r = get(port, "/q?name=a+b&a%20b=%E2%82%AC%3D")
is_(r.body, "€=".encode(), "query parameters decoded")
r = get(port, "/seg/a%2Fb/%C3%A9")
is_(r.body, "seg\na/b\né\n".encode(), "path segments decoded")
r = get(port, "/seg/%2e%2e")
is_(r.status, 400, "an encoded .. segment is refused by the helper")
s = connect(port)
s.sendall(b'GET /etag HTTP/1.1\r\nHost: t\r\nIf-None-Match: "v1"\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n')
r, buf = read_response(s)
r2, buf = read_response(s, buf)
ok(r.status == 304 and "content-length" not in r.headers and r.headers.get("etag") == '"v1"' and r2.body == b"hello\n",
   "304: no body, no length, the next answer follows at once")
s.close()
r = get(port, "/fail")
is_((r.status, r.body), (500, b"internal server error\n"), "a failing handler: 500, its body dropped")
r = get(port, "/huge")
is_(r.status, 500, "a body over max_response: 500")
r = get(port, "/nope")
is_(r.status, 404, "404")
r = get(port, "/json?n=50")
try:
    doc = json.loads(r.body)
    good = len(doc["alerts"]) == 50 and doc["alerts"][0]["message"] == "<script>alert(1)</script> \ufffd\ufffd & \u2028 café"
except Exception as e:
    diag(repr(e))
    good = False
ok(good and b"<" not in r.body and b"&" not in r.body and r.headers.get("content-type") == "application/json",
   "JSON answer parses, hostile text escaped")
is_(json.loads(r.body)["alerts"][3]["created"], "2026-11-28T04:51:07.003Z", "RFC 3339 time with milliseconds")

# ---- keep-alive and pipelining
s = connect(port)
good = True
buf = b""
for i in range(1000):
    s.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
    r, buf = read_response(s, buf)
    good = good and r.status == 200 and r.body == b"hello\n"
ok(good, "1000 requests on one keep-alive connection")
s.sendall(b"".join(b"GET /q?name=i&i=%d HTTP/1.1\r\nHost: t\r\n\r\n" % i for i in range(200)))
got = []
for i in range(200):
    r, buf = read_response(s, buf)
    got.append(r.body)
ok(got == [b"%d" % i for i in range(200)], "200 pipelined requests answered in order")
# pipelined big answers: the output backs up and the rest wait for the client
s.sendall(b"GET /big?n=3000000 HTTP/1.1\r\nHost: t\r\n\r\n" * 5 + b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
time.sleep(0.3)
sizes = []
for i in range(5):
    r, buf = read_response(s, buf)
    sizes.append(len(r.body))
r, buf = read_response(s, buf)
ok(sizes == [3000000] * 5 and r.body == b"hello\n", "5 pipelined 3 MB answers, then a small one, in order")
s.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
r, buf = read_response(s, buf)
ok(r.headers.get("connection") == "close" and closed_by_peer(s), "Connection: close is honoured")
s.close()

s = connect(port)
s.sendall(b"GET /hello HTTP/1.0\r\n\r\n")
r, _ = read_response(s)
ok(r.headers.get("connection") == "close" and closed_by_peer(s), "HTTP/1.0 closes by default")
s.close()
s = connect(port)
s.sendall(b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
r, buf = read_response(s)
s.sendall(b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
r2, buf = read_response(s, buf)
ok(r.headers.get("connection") == "keep-alive" and r2.status == 200, "HTTP/1.0 keep-alive kept")
s.close()

# Expect: 100-continue
s = connect(port)
s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
r, buf = read_response(s)
s.sendall(b"abcd")
r2, buf = read_response(s, buf)
ok(r.status == 100 and r2.status == 200 and r2.body == b"abcd", "Expect: 100-continue gets 100, then the answer")
s.close()

# ---- rejections on the wire: status, Connection: close, then closed
cases = [
    (b"PUT / HTTP/1.1\r\nHost: t\r\n\r\n", 405),
    (b"BREW / HTTP/1.1\r\nHost: t\r\n\r\n", 501),
    (b"GET http://x/ HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    (b"GET /../etc/passwd HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost: t\r\nX: " + b"v" * 17000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(70)) + b"\r\n", 431),
    (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 70000\r\n\r\n", 413),
    (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411),
    (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\nx", 400),
    (b"POST / HTTP/1.1\r\nHost: t\r\nExpect: nothing\r\n\r\n", 417),
    (b"GET / HTTP/1.1\nHost: t\n\n", 400),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),   # TLS ClientHello
]
for raw, want in cases:
    s = connect(port)
    s.sendall(raw)
    try:
        r, _ = read_response(s)
        good = r.status == want and r.headers.get("connection") == "close" and closed_by_peer(s)
        if want == 405:
            good = good and r.headers.get("allow") == "GET, HEAD, POST"
        if not good:
            diag("%r: %s %r" % (raw[:40], r.status_line, r.headers))
    except Exception as e:
        diag("%r: %r" % (raw[:40], e))
        good = False
    ok(good, "%d for %r, then closed" % (want, raw[:30]))
    s.close()
# a rejection after a good request on the same connection: the good one is answered first
s = connect(port)
s.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\nDELETE / HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
r, buf = read_response(s)
r2, buf = read_response(s, buf)
ok(r.status == 200 and r2.status == 405 and closed_by_peer(s), "pipelined: 200, then 405 and close (the third is not read)")
s.close()
# a rejection and a 100 Continue behind a large answer still on its way come after it
s = connect(port)
s.sendall(b"GET /big?n=3000000 HTTP/1.1\r\nHost: t\r\n\r\nPOST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
time.sleep(0.2)
r, buf = read_response(s)
r2, buf = read_response(s, buf)
s.sendall(b"ok")
r3, buf = read_response(s, buf)
s.sendall(b"GET /big?n=3000000 HTTP/1.1\r\nHost: t\r\n\r\nPUT / HTTP/1.1\r\n\r\n")
time.sleep(0.2)
r4, buf = read_response(s, buf)
r5, buf = read_response(s, buf)
ok(len(r.body) == 3000000 and r2.status == 100 and r3.body == b"ok" and len(r4.body) == 3000000 and r5.status == 405,
   "100 Continue and a 405 wait behind a 3 MB answer")
s.close()
# the client half-closes after a complete request: answered, then closed
r, closed = half_close(port, b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
ok(r.status == 200 and closed, "request then half-close: answered, then closed")
r, closed = half_close(port, b"GET /hello HTTP/1.1\r\nHo")
ok(r.status == 400 and closed, "request cut by a half-close: 400, closed")
ok(serving(port), "still serving after the rejections")

# ---- slowloris: a request not complete within request_ns (1 s) is closed
t0 = time.time()
slow = []
for i in range(10):
    s = connect(port)
    s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
    slow.append(s)
# dribble one header byte every 100 ms on one of them: progress does not
# move the deadline
dribble = slow[0]
for i in range(30):
    try:
        dribble.sendall(b"X")
    except OSError:
        break
    time.sleep(0.1)
good = all(closed_by_peer(s, 15) for s in slow)
elapsed = time.time() - t0
ok(good and elapsed < 15, "10 slowloris connections (one dribbling a byte every 100 ms) closed at the request deadline (%.2f s)" % elapsed)
ok(serving(port), "still serving after slowloris")
for s in slow:
    s.close()
st = stats(port)
ok(int(st["timeouts"]) >= 10, "timeouts counted (%s)" % st["timeouts"])

# ---- idle keep-alive: closed after idle_ns (1.5 s) without a request
s = connect(port)
s.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
r, buf = read_response(s)
t0 = time.time()
good = closed_by_peer(s, 15)
el = time.time() - t0
ok(good and 1.2 < el < 15, "idle keep-alive connection closed after the idle time (%.2f s)" % el)
s.close()
s = connect(port)
t0 = time.time()
good = closed_by_peer(s, 15)
el = time.time() - t0
ok(good and 1.2 < el < 15, "a connection that never sends is closed at the idle time (%.2f s)" % el)
s.close()

# ---- the connection bound (64): more clients wait in the backlog
held = [connect(port) for _ in range(64)]
time.sleep(0.2)
extra = connect(port)   # completes in the kernel's backlog
extra.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
extra.settimeout(0.5)
try:
    d = extra.recv(100)
    waited = False
except socket.timeout:
    waited = True
ok(waited, "the 65th connection is not served while 64 are open")
for s in held[:10]:
    s.close()
extra.settimeout(5)
try:
    r, _ = read_response(extra)
    good = r.status == 200
except Exception as e:
    diag(repr(e))
    good = False
ok(good, "served once others closed")
extra.close()
for s in held[10:]:
    s.close()
time.sleep(0.2)
st = stats(port)
ok(int(st["refused"]) >= 1, "the bound was hit (refused=%s)" % st["refused"])

# ---- a large answer read slowly, and a client that stops reading
s = connect(port)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.sendall(b"GET /big?n=20000000 HTTP/1.1\r\nHost: t\r\n\r\n")
got = 0
buf = b""
t0 = time.time()
while b"\r\n\r\n" not in buf:
    buf += s.recv(65536)
head, _, rest = buf.partition(b"\r\n\r\n")
got = len(rest)
ok_pattern = rest[:26] == b"abcdefghijklmnopqrstuvwxyz"
while got < 20000000:
    d = s.recv(1 << 20)
    if not d:
        break
    got += len(d)
    if time.time() - t0 < 2.0:
        time.sleep(0.01)   # slow for the first 2 s: progress keeps it alive past write_ns
ok(got == 20000000 and ok_pattern, "a 20 MB answer read slowly arrives whole (%d bytes, %.1f s)" % (got, time.time() - t0))
s.close()
before = int(stats(port)["timeouts"])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)   # a small window from the start
s.connect(("127.0.0.1", port))
s.sendall(b"GET /big?n=30000000 HTTP/1.1\r\nHost: t\r\n\r\n")
t0 = time.time()
while time.time() - t0 < 30 and int(stats(port)["timeouts"]) == before:
    time.sleep(0.1)
el = time.time() - t0
ok(int(stats(port)["timeouts"]) == before + 1 and el >= 1.4,
   "a client that stops reading a 30 MB answer is dropped once writing stalls for write_ns (%.1f s)" % el)
ok(closed_by_peer(s, 10), "its connection is closed")
s.close()
ok(serving(port), "still serving")

# ---- an answer sent while the handler writes it (http_resp_send_now)
def pattern(n):
    return (b"abcdefghijklmnopqrstuvwxyz" * (n // 26 + 1))[:n]


s = connect(port)
s.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
          b"GET /sendnow?n=3000000&chunk=100000 HTTP/1.1\r\nHost: t\r\n\r\n"
          b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
r1, rest = read_response(s)
r2, rest = read_response(s, rest)
r3, rest = read_response(s, rest)
ok(r1.body == b"hello\n" and r2.status == 200 and r2.headers.get("content-length") == "3000000" and
   r2.body == pattern(3000000) and "connection" not in r2.headers and r3.body == b"hello\n",
   "3 MB sent in 100 kB chunks from the handler: its announced Content-Length, whole, in order between "
   "pipelined answers, the connection kept")
s.close()
s = connect(port)
s.sendall(b"GET /sendnow?n=1000000&chunk=30000&announce=-1 HTTP/1.1\r\nHost: t\r\n\r\n")
data = b""
s.settimeout(10)
while True:
    d = s.recv(1 << 20)
    if not d:
        break
    data += d
head, _, body = data.partition(b"\r\n\r\n")
ok(b"Content-Length" not in head and b"Connection: close\r\n" in head and body == pattern(1000000),
   "without a length announced: no Content-Length, Connection: close, the body ends at the close")
s.close()
head, body = read_to_close(port, b"GET /sendnow?n=1000000&chunk=30000&announce=1000010 HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
ok(b"Content-Length: 1000010\r\n" in head and len(body) < 1000010 and b"hello" not in body,
   "a body shorter than announced: the connection is closed, nothing answered after it (%d bytes)" % len(body))
head, body = read_to_close(port, b"GET /sendnow?n=1000000&chunk=30000&announce=500000 HTTP/1.1\r\nHost: t\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
ok(b"Content-Length: 500000\r\n" in head and len(body) <= 500000 and b"hello" not in body,
   "a body longer than announced: nothing past the length goes out, the connection is closed (%d bytes)" % len(body))
r = request(port, b"HEAD /sendnow?n=300000&chunk=30000 HTTP/1.1\r\nHost: t\r\n\r\n", head=True)
is_(r.headers.get("content-length"), "300000", "HEAD: answered whole, with its length")
ok(serving(port), "still serving")

# ---- event streams
def open_stream(port, extra=b""):
    s = connect(port)
    s.sendall(b"GET /events HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n" + extra + b"\r\n")
    buf = b""
    while b": hello\n\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise EOFError("stream closed")
        buf += d
    return s, buf


def read_until(s, want, timeout=5):
    s.settimeout(timeout)
    buf = b""
    try:
        while want not in buf:
            d = s.recv(65536)
            if not d:
                break
            buf += d
    except socket.timeout:
        pass
    return buf


streams = [open_stream(port) for _ in range(5)]
h = streams[0][1].decode("latin-1")
ok(h.startswith("HTTP/1.1 200 OK\r\n") and "Content-Type: text/event-stream\r\n" in h and "Content-Length" not in h
   and "Cache-Control: no-store\r\n" in h, "a stream's head: event-stream, no length, no-store")
time.sleep(3.0)
r = request(port, b"POST /broadcast HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
is_(r.body, b"5\n", "broadcast reaches 5 streams")
got = [read_until(s, b"data: hello\n\n") for s, _ in streams]
ok(all(b"data: hello\n\n" in g for g in got), "every stream got the event, streams outlive the idle time")
streams[0][0].close()
time.sleep(0.2)
r = request(port, b"POST /broadcast HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\n2")
st = stats(port)
ok(r.body == b"4\n" and st["streams"] == "4" and st["closed_streams"] == "1", "a stream the client closed is gone (stream_closed called)")
# a slow stream: stops reading, the server drops it at its 64 KiB bound
slow_s, _ = open_stream(port)
slow_s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
payload = b"x" * 30000
sent = 0
for i in range(1000):
    request(port, b"POST /broadcast HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(payload) + payload)
    sent += len(payload)
    for s, _ in streams[1:]:
        s.setblocking(False)
        try:
            while s.recv(1 << 20):
                pass
        except BlockingIOError:
            pass
    if i % 10 == 9 and stats(port)["dropped_streams"] != "0":
        break
st = stats(port)
ok(int(st["dropped_streams"]) == 1 and st["streams"] == "4",
   "the stream that stopped reading was dropped after %d kB of events, the 4 readers stay (dropped=%s)" % (sent // 1000, st["dropped_streams"]))
for s, _ in streams[1:]:
    s.setblocking(True)
r = request(port, b"POST /broadcast HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nend")
ok(all(b"data: end\n\n" in read_until(s, b"data: end\n\n") for s, _ in streams[1:]), "the readers still get events")
st = stats(port)
ok(int(st["stream_bytes"]) >= 4 * sent, "bytes written on streams are counted (%s, the 4 readers alone read %d)" % (st["stream_bytes"], 4 * sent))
slow_s.close()
r = request(port, b"HEAD /events HTTP/1.1\r\nHost: t\r\n\r\n", head=True)
is_(r.status, 405, "HEAD cannot open a stream")
for s, _ in streams[1:]:
    s.close()

# ---- pings: one timer for all streams
proc2, port2 = start(1000, 1000, 1000, 16, 65536, 200)
s1, _ = open_stream(port2)
s2, _ = open_stream(port2)
b1 = read_until(s1, b":\n\n:\n\n", 3)
b2 = read_until(s2, b":\n\n:\n\n", 3)
ok(b1.count(b":\n\n") >= 2 and b2.count(b":\n\n") >= 2, "keep-alive comments every 200 ms on every stream")
s1.close()
s2.close()
proc2.terminate()
proc2.wait()

ok(serving(port), "still serving at the end")
ok(proc.poll() is None, "the server never died")
proc.terminate()
proc.wait()
if tap.failed():
    for name in sorted(os.listdir(tmp)):
        if name.endswith(".log"):
            diag("%s:\n%s" % (name, open(os.path.join(tmp, name)).read()))
subprocess.run(["rm", "-rf", tmp])
tap.done()
