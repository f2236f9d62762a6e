#!/usr/bin/env python3
# notify-listen.py: the service manager's side of sd_notify for tests:
# binds a unix datagram socket (a path, or @name for the abstract
# namespace), creates OUT.ready once bound, then writes the first datagram
# received to OUT ("timeout" after 60 s). usage: notify-listen.py ADDR OUT
import socket
import sys

addr, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
s.settimeout(60)
open(out + ".ready", "w").close()
try:
    d = s.recv(4096)
except socket.timeout:
    d = b"timeout"
with open(out, "wb") as f:
    f.write(d)
