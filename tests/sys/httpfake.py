#!/usr/bin/env python3
"""tests/sys/httpfake.py MODE PORT_FILE: an HTTP server on 127.0.0.1 that
answers every request with one canned answer, for xmonctl's client tests.
Modes: 500 (a JSON error), chunked, nolength, huge (a Content-Length over
xmonctl's bound), badstatus, silent (accepts, reads, never answers),
slowbody (the head, then half the body, then nothing), notjson."""
import socket, sys, threading, time

mode, port_file = sys.argv[1], sys.argv[2]
ANSWERS = {
    "500": b'HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: 24\r\n\r\n{"error":"out of disks"}',
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    "nolength": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{}",
    "huge": b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n{}",
    "badstatus": b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\n{}",
    "notjson": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    "slowbody": b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"alerts":',
    "silent": b"",
}
ans = ANSWERS[mode]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(16)
with open(port_file + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
import os
os.rename(port_file + ".tmp", port_file)

def serve(c):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = c.recv(4096)
        if not d:
            return
        buf += d
    if ans:
        c.sendall(ans)
    time.sleep(60)
    c.close()

while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
