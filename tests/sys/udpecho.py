#!/usr/bin/env python3
"""Send one datagram to HOST PORT and print the echoed reply, or 'noreply'."""
import socket, sys

host, port, msg = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.settimeout(float(sys.argv[4]) if len(sys.argv) > 4 else 2.0)
s.sendto(msg, (host, port))
try:
    print(s.recvfrom(65536)[0].decode())
except socket.timeout:
    print("noreply")
