#!/usr/bin/env python3
"""deaddns: a DNS server that never answers (tests only, stdlib).

  deaddns.py STATUS LOG

Binds UDP port 53 on the first free address of 127.0.0.100..127.0.0.199
(tried in a random order, so parallel runs do not collide; resolv.conf
cannot name a port), writes "listening ADDR" (or "busy") to STATUS, then
logs one line per query to LOG: "MONOTONIC_TIME NAME TYPE", and answers
nothing: every lookup that reaches it ends by the resolver's timeout.
"""
import random, socket, struct, sys, time

status, log = sys.argv[1:3]
addrs = ["127.0.0.%d" % i for i in range(100, 200)]
random.shuffle(addrs)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for a in addrs:
    try:
        s.bind((a, 53))
        break
    except OSError:
        continue
else:
    open(status, "w").write("busy\n")
    sys.exit(0)
open(status, "w").write("listening %s\n" % a)
TYPES = {1: "A", 28: "AAAA"}
while True:
    q, peer = s.recvfrom(512)
    pos, labels = 12, []
    try:
        while q[pos]:
            labels.append(q[pos + 1:pos + 1 + q[pos]].decode())
            pos += 1 + q[pos]
        qtype = struct.unpack(">H", q[pos + 1:pos + 3])[0]
    except (IndexError, struct.error, UnicodeDecodeError):
        continue
    with open(log, "a") as f:
        f.write("%.3f %s %s\n" % (time.monotonic(), ".".join(labels).lower(), TYPES.get(qtype, qtype)))
