#!/usr/bin/env python3
# http-burst.py: N concurrent connections, each posting one image as
# multipart (field inputFile) to http://HOST:PORT/; all connect first,
# then all send at once (a barrier). Prints one line per outcome,
# "STATUS BODY" (or "exc REASON"), for the test to count. Stdlib only.
# usage: http-burst.py HOST PORT IMAGE N
import http.client
import os
import sys
import threading

host, port, image, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
data = open(image, "rb").read()
name = os.path.basename(image)
b = "----irburst7f3a"
body = (("--%s\r\nContent-Disposition: form-data; name=\"inputFile\"; "
         "filename=\"%s\"\r\nContent-Type: image/jpeg\r\n\r\n") % (b, name)).encode() \
    + data + ("\r\n--%s--\r\n" % b).encode()
res = [None] * n
barrier = threading.Barrier(n)


def go(i):
    c = None
    try:
        c = http.client.HTTPConnection(host, port, timeout=180)
        c.connect()
    except Exception as e:
        res[i] = "exc connect: %s" % e
    try:
        barrier.wait(timeout=60)
    except threading.BrokenBarrierError:
        pass
    if c is None:
        return
    try:
        c.request("POST", "/", body,
                  {"Content-Type": "multipart/form-data; boundary=" + b})
        r = c.getresponse()
        res[i] = "%d %s" % (r.status, r.read().decode(errors="replace").strip())
    except Exception as e:
        res[i] = "exc %s" % e
    finally:
        c.close()


threading.stack_size(256 * 1024)
ts = [threading.Thread(target=go, args=(i,)) for i in range(n)]
for t in ts:
    t.start()
for t in ts:
    t.join()
for r in res:
    print(r)
