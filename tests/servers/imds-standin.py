#!/usr/bin/env python3
"""imds-standin.py: a stand-in for the EC2 instance metadata service
(IMDSv2) and a tiny S3 ListObjectsV2 endpoint, on 127.0.0.1, for
tests/aws-imds.t.

IMDSv2: PUT /latest/api/token (needs X-aws-ec2-metadata-token-ttl-seconds)
gives a session token; GET /latest/meta-data/iam/security-credentials/
(needs that token, else 401) names the role; GET .../ROLE gives role
credentials. The Nth fetch gets ASIASTANDIN0000000N / secret N / token N;
the first expires in EXPIRE1 seconds (default 240: inside the client's
five-minute refresh margin), later ones in an hour.

S3: GET /BUCKET/?list-type=2[&continuation-token=pN] answers three pages
(keys a, b, c). Every S3 request's Signature V4 is verified here,
independently of the client's code, with the secret handed out for its
access key: a bad one gets 403 SignatureDoesNotMatch.

Each event is appended to LOG as one JSON line. Prints the port on stdout
when listening; runs until killed (SIGTERM).
usage: imds-standin.py LOG
"""
import hashlib
import hmac
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = sys.argv[1]
EXPIRE1 = int(os.environ.get("EXPIRE1", "240"))
ROLE = "ir-worker-role"
lock = threading.Lock()
state = {"fetches": 0, "tokens": set(), "secrets": {}}


def log(**kw):
    with lock, open(LOG, "a") as f:
        f.write(json.dumps(kw) + "\n")


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def enc(s):
    return urllib.parse.quote(s, safe="-_.~")


def canonical_query(q):
    pairs = []
    for part in q.split("&"):
        if not part:
            continue
        k, _, v = part.partition("=")
        pairs.append((enc(urllib.parse.unquote(k)),
                      enc(urllib.parse.unquote(v))))
    return "&".join(k + "=" + v for k, v in sorted(pairs))


def verify(h, method, raw_path, body):
    """Returns (access key, token, ok, why)."""
    auth = h.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return None, None, False, "no SigV4 Authorization"
    f = dict(p.strip().split("=", 1) for p in auth[17:].split(","))
    ak, date, region, service, term = f["Credential"].split("/")
    secret = state["secrets"].get(ak)
    if secret is None:
        return ak, h.get("X-Amz-Security-Token"), False, "unknown key"
    path, _, query = raw_path.partition("?")
    names = f["SignedHeaders"].split(";")
    lines = []
    for n in names:
        v = h.get(n)
        if v is None:
            return ak, None, False, "signed header %s missing" % n
        lines.append(n + ":" + " ".join(v.split()))
    payload = h.get("x-amz-content-sha256", "")
    if payload != hashlib.sha256(body).hexdigest():
        return ak, None, False, "payload hash"
    creq = "\n".join([method, path, canonical_query(query),
                      "\n".join(lines) + "\n", f["SignedHeaders"], payload])
    amz = h.get("X-Amz-Date", "")
    sts = "\n".join(["AWS4-HMAC-SHA256", amz,
                     "/".join([date, region, service, term]),
                     hashlib.sha256(creq.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for m in (date, region, service, term):
        k = hmac.new(k, m.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    tok = h.get("X-Amz-Security-Token")
    if "x-amz-security-token" not in names and tok is not None:
        return ak, tok, False, "token not signed"
    return ak, tok, sig == f["Signature"], "signature"


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, code, body, ctype="text/plain"):
        b = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(b)

    def body(self):
        n = int(self.headers.get("Content-Length", "0") or 0)
        return self.rfile.read(n) if n else b""

    def do_PUT(self):
        self.body()
        if self.path == "/latest/api/token":
            ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            if not ttl:
                log(ev="token", ok=False)
                return self.reply(400, "missing TTL header")
            t = "imds-session-%d" % len(state["tokens"])
            state["tokens"].add(t)
            log(ev="token", ok=True, ttl=ttl)
            return self.reply(200, t)
        self.reply(404, "")

    def do_GET(self):
        p = self.path
        if p.startswith("/latest/"):
            tok = self.headers.get("X-aws-ec2-metadata-token")
            if tok not in state["tokens"]:
                log(ev="imds-get", path=p, ok=False)
                return self.reply(401, "")
            base = "/latest/meta-data/iam/security-credentials/"
            if p == base:
                log(ev="role-list", ok=True)
                return self.reply(200, ROLE)
            if p == base + ROLE:
                with lock:
                    state["fetches"] += 1
                    n = state["fetches"]
                ak = "ASIASTANDIN%09d" % n
                state["secrets"][ak] = "standin-secret-%d" % n
                exp = time.time() + (EXPIRE1 if n == 1 else 3600)
                log(ev="creds", n=n, key=ak)
                return self.reply(200, json.dumps({
                    "Code": "Success", "Type": "AWS-HMAC",
                    "AccessKeyId": ak,
                    "SecretAccessKey": state["secrets"][ak],
                    "Token": "standin-token-%d" % n,
                    "Expiration": iso(exp),
                    "LastUpdated": iso(time.time())}),
                    "application/json")
            return self.reply(404, "")
        ak, tok, good, why = verify(self.headers, "GET", p, b"")
        log(ev="s3", path=p, key=ak, token=tok, ok=good, why=why)
        if not good:
            return self.reply(403, "<Error><Code>SignatureDoesNotMatch"
                              "</Code><Message>%s</Message></Error>" % why,
                              "application/xml")
        q = urllib.parse.parse_qs(p.partition("?")[2])
        page = {None: 0, "p1": 1, "p2": 2}.get(
            (q.get("continuation-token") or [None])[0], 0)
        key = "abc"[page]
        more = page < 2
        self.reply(200, "<?xml version=\"1.0\"?><ListBucketResult>"
                   "<IsTruncated>%s</IsTruncated><Contents><Key>%s</Key>"
                   "<Size>%d</Size></Contents>%s</ListBucketResult>" % (
                       "true" if more else "false", key, page + 1,
                       "<NextContinuationToken>p%d</NextContinuationToken>"
                       % (page + 1) if more else ""), "application/xml")


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
print(srv.server_address[1], flush=True)
try:
    threading.Event().wait()
except KeyboardInterrupt:
    pass
