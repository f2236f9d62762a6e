#!/usr/bin/env python3
"""aws-standin.py: stand-ins on 127.0.0.1 for tests/aws-client.t: the EC2
instance metadata service (IMDSv2), and small S3 and SQS endpoints that
verify every request's Signature V4 themselves (independently of the
client's code) and misbehave on purpose to exercise retries.

IMDSv2: PUT /latest/api/token (needs X-aws-ec2-metadata-token-ttl-seconds)
gives a session token; GET /latest/meta-data/iam/security-credentials/
(needs that token, else 401) names the role; GET .../ROLE gives role
credentials. The Nth fetch gets ASIASTANDIN00000000N / a secret / token N;
the first expires in EXPIRE1 seconds (default 240: inside the client's
five-minute refresh margin), later ones in an hour.

S3 (path-style, the bucket is the first path segment):
  GET /bkt/?list-type=2...  three pages of a listing (keys a, b, c)
  GET /flaky/KEY    503 SlowDown, 503 SlowDown, 400 Throttling, 429, then
                    200 "ok" (per key)
  GET /denied/KEY   403 AccessDenied "Access Denied", always
  GET /broken/KEY   500 InternalError, always
  GET /expired/KEY  400 ExpiredToken unless signed with the second or a
                    later set of credentials, then 200 "fresh"
SQS (JSON protocol, POST /):
  GetQueueUrl       QueueName "throttled": one 400 RequestThrottled first
  GetQueueAttributes  ApproximateNumberOfMessages 7, NotVisible 3
A request whose signature does not verify gets 403 SignatureDoesNotMatch.
Besides the instance credentials, the static pair AKIASTANDINSTATIC01 /
static-secret-0001 is known.

Each event is appended to LOG as one JSON line. Prints the port on stdout
when listening; runs until killed (SIGTERM).
usage: aws-standin.py LOG
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
# One static key pair besides the instance credentials, for tests of
# environment credentials (right and wrong secret).
state = {"fetches": 0, "tokens": set(), "count": {},
         "secrets": {"AKIASTANDINSTATIC01": "static-secret-0001"}}


def log(**kw):
    with lock, open(LOG, "a") as f:
        f.write(json.dumps(kw) + "\n")


def bump(k):
    with lock:
        state["count"][k] = state["count"].get(k, 0) + 1
        return state["count"][k]


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def enc(s, safe="-_.~"):
    return urllib.parse.quote(s, safe=safe)


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
    """Returns (access key, token, service, ok, why)."""
    auth = h.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return None, None, None, False, "no SigV4 Authorization"
    f = dict(p.strip().split("=", 1) for p in auth[17:].split(","))
    ak, date, region, service, term = f["Credential"].split("/")
    tok = h.get("X-Amz-Security-Token")
    secret = state["secrets"].get(ak)
    if secret is None:
        return ak, tok, service, False, "unknown key"
    path, _, query = raw_path.partition("?")
    if service != "s3":  # every other service encodes the path again
        path = enc(path, safe="-_.~/")
    names = f["SignedHeaders"].split(";")
    lines = []
    for n in names:
        v = h.get(n)
        if v is None:
            return ak, tok, service, False, "signed header %s missing" % n
        lines.append(n + ":" + " ".join(v.split()))
    payload = hashlib.sha256(body).hexdigest()
    if service == "s3" and h.get("x-amz-content-sha256") != payload:
        return ak, tok, service, False, "payload hash"
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
    if tok is not None and "x-amz-security-token" not in names:
        return ak, tok, service, False, "token not signed"
    return ak, tok, service, sig == f["Signature"], "signature"


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, code, body="", ctype="text/plain", headers=()):
        b = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(b)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(b)

    def s3err(self, code, c, msg):
        self.reply(code, "<?xml version=\"1.0\"?><Error><Code>%s</Code>"
                   "<Message>%s</Message></Error>" % (c, msg),
                   "application/xml")

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
        self.reply(404)

    def imds(self, p):
        tok = self.headers.get("X-aws-ec2-metadata-token")
        if tok not in state["tokens"]:
            log(ev="imds-get", path=p, ok=False)
            return self.reply(401)
        base = "/latest/meta-data/iam/security-credentials/"
        if p == base:
            log(ev="role-list", ok=True)
            return self.reply(200, ROLE)
        if p != base + ROLE:
            return self.reply(404)
        with lock:
            state["fetches"] += 1
            n = state["fetches"]
        ak = "ASIASTANDIN%09d" % n
        state["secrets"][ak] = "standin-secret-%d" % n
        exp = time.time() + (EXPIRE1 if n == 1 else 3600)
        log(ev="creds", n=n, key=ak)
        self.reply(200, json.dumps({
            "Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": ak,
            "SecretAccessKey": state["secrets"][ak],
            "Token": "standin-token-%d" % n, "Expiration": iso(exp),
            "LastUpdated": iso(time.time())}), "application/json")

    def do_GET(self):
        p = self.path
        if p.startswith("/latest/"):
            return self.imds(p)
        ak, tok, svc, good, why = verify(self.headers, "GET", p, b"")
        bucket = p.split("/")[1].split("?")[0]
        log(ev="s3", path=p, bucket=bucket, key=ak, token=tok, ok=good,
            why=why)
        if not good:
            return self.s3err(403, "SignatureDoesNotMatch", why)
        if bucket == "flaky":
            n = bump(p)
            if n <= 2:
                return self.s3err(503, "SlowDown",
                                  "Please reduce your request rate.")
            if n == 3:
                return self.s3err(400, "Throttling", "Rate exceeded")
            if n == 4:
                return self.reply(429)
            return self.reply(200, "ok")
        if bucket == "denied":
            return self.s3err(403, "AccessDenied", "Access Denied")
        if bucket == "broken":
            return self.s3err(500, "InternalError",
                              "We encountered an internal error.")
        if bucket == "expired":
            if ak == "ASIASTANDIN000000001":
                return self.s3err(400, "ExpiredToken",
                                  "The provided token has expired.")
            return self.reply(200, "fresh")
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

    def do_POST(self):
        body = self.body()
        ak, tok, svc, good, why = verify(self.headers, "POST", self.path,
                                         body)
        target = self.headers.get("X-Amz-Target", "")
        log(ev="sqs", target=target, key=ak, token=tok, service=svc,
            ok=good, why=why,
            ctype=self.headers.get("Content-Type"))
        j = "application/x-amz-json-1.0"
        if not good:
            return self.reply(403, json.dumps({
                "__type": "com.amazon.coral.service#SignatureDoesNotMatch",
                "message": why}), j)
        req = json.loads(body or b"{}")
        if target == "AmazonSQS.GetQueueUrl":
            name = req.get("QueueName", "")
            if name == "throttled" and bump("throttled") == 1:
                return self.reply(400, json.dumps({
                    "__type": "com.amazonaws.sqs#RequestThrottled",
                    "message": "Request is throttled."}), j,
                    [("x-amzn-query-error",
                      "AWS.SimpleQueueService.RequestThrottled;Sender")])
            port = self.server.server_address[1]
            return self.reply(200, json.dumps({
                "QueueUrl": "http://127.0.0.1:%d/000000000000/%s"
                % (port, name)}), j)
        if target == "AmazonSQS.GetQueueAttributes":
            return self.reply(200, json.dumps({"Attributes": {
                "ApproximateNumberOfMessages": "7",
                "ApproximateNumberOfMessagesNotVisible": "3"}}), j)
        self.reply(400, json.dumps({"__type": "InvalidAction",
                                    "message": target}), j)


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
print(srv.server_address[1], flush=True)
try:
    threading.Event().wait()
except KeyboardInterrupt:
    pass
