#!/usr/bin/env python3
"""Plays systemd's side of sd_notify for the tests: binds a datagram socket
(a path, or an abstract name when it starts with '@'), prints each message
it receives as one line (newlines inside a message become '|'), flushed,
and exits after --count messages or --timeout seconds without one."""
import socket, sys

addr, count, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
print("listening", flush=True)
s.settimeout(timeout)
for _ in range(count):
    try:
        msg = s.recv(4096)
    except socket.timeout:
        print("timeout", flush=True)
        sys.exit(1)
    print(msg.decode().replace("\n", "|"), flush=True)
