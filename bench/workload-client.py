#!/usr/bin/env python3
# workload-client.py: the CSE546 workload generator's shape: every image of
# a folder posted at once (one connection each, field inputFile) to
# http://HOST:PORT/. All connections open first, then a barrier releases
# them together; the clock runs from the release to the last answer.
# Prints one line per image "NAME STATUS BODY MS", then "total SECONDS".
# usage: workload-client.py HOST PORT FOLDER
import http.client
import os
import sys
import threading
import time

host, port, folder = sys.argv[1], int(sys.argv[2]), sys.argv[3]
files = sorted(f for f in os.listdir(folder) if f.endswith(".jpg"))
B = "----irworkload9c1e"
bodies = []
for f in files:
    data = open(os.path.join(folder, f), "rb").read()
    bodies.append((("--%s\r\nContent-Disposition: form-data; name=\"inputFile\"; "
                    "filename=\"%s\"\r\nContent-Type: image/jpeg\r\n\r\n") % (B, f)).encode()
                  + data + ("\r\n--%s--\r\n" % B).encode())
n = len(files)
res = [None] * n
barrier = threading.Barrier(n + 1)


def go(i):
    c = http.client.HTTPConnection(host, port, timeout=300)
    try:
        c.connect()
    except Exception as e:
        res[i] = ("exc", "connect:" + str(e).replace(" ", "_"), 0.0)
        c = None
    try:
        barrier.wait(timeout=120)
    except threading.BrokenBarrierError:
        pass
    if c is None:
        return
    t0 = time.monotonic()
    try:
        c.request("POST", "/", bodies[i],
                  {"Content-Type": "multipart/form-data; boundary=" + B})
        r = c.getresponse()
        body = r.read().decode(errors="replace").strip()
        res[i] = (r.status, body, (time.monotonic() - t0) * 1e3)
    except Exception as e:
        res[i] = ("exc", str(e).replace(" ", "_"), (time.monotonic() - t0) * 1e3)
    finally:
        c.close()


ts = [threading.Thread(target=go, args=(i,)) for i in range(n)]
for t in ts:
    t.start()
try:
    barrier.wait(timeout=120)
except threading.BrokenBarrierError:
    pass
t0 = time.monotonic()
for t in ts:
    t.join()
total = time.monotonic() - t0
for f, r in zip(files, res):
    print("%s %s %s %.1f" % (f, r[0], r[1], r[2]))
print("total %.3f" % total)
