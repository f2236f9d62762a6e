#!/usr/bin/env python3
"""aws-recorder.py: a small recorder of AWS API calls on 127.0.0.1, for
tests/aws-scripts.t. The aws CLI is pointed at it (--endpoint-url) with
dummy credentials; it records every call as one JSON line in LOG:

  {"svc": "ec2"|"sqs"|"s3", "action": "RunInstances", "params": {...}}

and answers with canned, protocol-correct responses from a tiny in-memory
model (instances with tags and states, queues, buckets), so scripts that
read an answer (an instance id, a queue URL or ARN) go on as against AWS.

Protocols handled: EC2 Query (form POST, XML answer); SQS Query (what
Debian's awscli 2.9 sends: form POST, XML) and SQS JSON (X-Amz-Target:
AmazonSQS.*, what newer botocore sends); S3 REST, path-style.
The service is read from the SigV4 credential scope of the Authorization
header. Nothing is checked about the signature itself.

usage: aws-recorder.py PORTFILE LOG   (binds 127.0.0.1 on a free port and
writes it to PORTFILE once listening; stop it with SIGTERM)
"""
import base64
import json
import re
import signal
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

EC2NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
SQSNS = "http://queue.amazonaws.com/doc/2012-11-05/"
ACCOUNT = "000000000000"

lock = threading.Lock()
instances = []      # dicts: id, image, type, tags{}, state
queues = {}         # name -> attributes{}
buckets = set()
log_path = None


def record(svc, action, params):
    with lock, open(log_path, "a") as f:
        f.write(json.dumps({"svc": svc, "action": action, "params": params},
                           sort_keys=True) + "\n")


def query_params(body):
    return {k: v[-1] for k, v in
            urllib.parse.parse_qs(body, keep_blank_values=True).items()}


def indexed(params, prefix):
    """Collects PREFIX.1, PREFIX.2... into a list (values or sub-dicts)."""
    out = {}
    pat = re.compile(re.escape(prefix) + r"\.(\d+)(?:\.(.*))?$")
    for k, v in params.items():
        m = pat.match(k)
        if not m:
            continue
        i = int(m.group(1))
        if m.group(2) is None:
            out[i] = v
        else:
            out.setdefault(i, {})[m.group(2)] = v
    return [out[i] for i in sorted(out)]


def ec2_filters(params):
    """Filter.N.Name / Filter.N.Value.M -> [(name, [values])]."""
    res = []
    for f in indexed(params, "Filter"):
        vals = [f[k] for k in sorted(
            (k for k in f if k.startswith("Value.")),
            key=lambda k: int(k.split(".")[1]))]
        res.append((f.get("Name"), vals))
    return res


def glob_match(pattern, s):
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), s) \
        is not None


def ec2_matches(inst, filters, ids):
    if ids and inst["id"] not in ids:
        return False
    for name, vals in filters:
        if name == "instance-state-name":
            have = inst["state"]
        elif name and name.startswith("tag:"):
            have = inst["tags"].get(name[4:])
            if have is None:
                return False
        elif name == "instance-id":
            have = inst["id"]
        else:
            continue
        if not any(glob_match(v, have) for v in vals):
            return False
    return True


STATE_CODE = {"pending": 0, "running": 16, "shutting-down": 32,
              "terminated": 48, "stopping": 64, "stopped": 80}


def inst_xml(i):
    tags = "".join("<item><key>%s</key><value>%s</value></item>" %
                   (escape(k), escape(v)) for k, v in i["tags"].items())
    return ("<item><instanceId>%s</instanceId><imageId>%s</imageId>"
            "<instanceState><code>%d</code><name>%s</name></instanceState>"
            "<instanceType>%s</instanceType>"
            "<privateIpAddress>10.0.0.%d</privateIpAddress>"
            "<ipAddress>192.0.2.%d</ipAddress>"
            "<dnsName>ec2-192-0-2-%d.compute-1.amazonaws.com</dnsName>"
            "<tagSet>%s</tagSet></item>") % (
        i["id"], escape(i["image"]), STATE_CODE[i["state"]], i["state"],
        escape(i["type"]), i["n"], i["n"], i["n"], tags)


def ec2(action, p):
    if action == "RunInstances":
        tags = {}
        for spec in indexed(p, "TagSpecification"):
            k = 1
            while "Tag.%d.Key" % k in spec:
                tags[spec["Tag.%d.Key" % k]] = spec.get("Tag.%d.Value" % k, "")
                k += 1
        made = []
        with lock:
            for _ in range(int(p.get("MinCount", "1"))):
                n = len(instances) + 1
                inst = {"id": "i-%017x" % n, "n": n, "image": p.get("ImageId", ""),
                        "type": p.get("InstanceType", "m1.small"),
                        "tags": dict(tags), "state": "running"}
                instances.append(inst)
                made.append(inst)
        return ("<RunInstancesResponse xmlns=\"%s\"><requestId>r-%d</requestId>"
                "<reservationId>r-%d</reservationId><ownerId>%s</ownerId>"
                "<instancesSet>%s</instancesSet></RunInstancesResponse>") % (
            EC2NS, len(instances), len(instances), ACCOUNT,
            "".join(inst_xml(dict(i, state="pending")) for i in made))
    if action == "DescribeInstances":
        flt = ec2_filters(p)
        ids = set(indexed(p, "InstanceId"))
        with lock:
            found = [i for i in instances if ec2_matches(i, flt, ids)]
        res = "".join("<item><reservationId>r-%d</reservationId><ownerId>%s"
                      "</ownerId><instancesSet>%s</instancesSet></item>" %
                      (i["n"], ACCOUNT, inst_xml(i)) for i in found)
        return ("<DescribeInstancesResponse xmlns=\"%s\"><requestId>d</requestId>"
                "<reservationSet>%s</reservationSet></DescribeInstancesResponse>"
                ) % (EC2NS, res)
    if action == "TerminateInstances":
        ids = indexed(p, "InstanceId")
        items = ""
        with lock:
            for i in instances:
                if i["id"] in ids:
                    prev = i["state"]
                    i["state"] = "terminated"
                    items += ("<item><instanceId>%s</instanceId><currentState>"
                              "<code>32</code><name>shutting-down</name>"
                              "</currentState><previousState><code>%d</code>"
                              "<name>%s</name></previousState></item>") % (
                        i["id"], STATE_CODE[prev], prev)
        return ("<TerminateInstancesResponse xmlns=\"%s\"><requestId>t</requestId>"
                "<instancesSet>%s</instancesSet></TerminateInstancesResponse>"
                ) % (EC2NS, items)
    return None


class SqsError(Exception):
    def __init__(self, code, jtype, msg):
        self.code, self.jtype, self.msg = code, jtype, msg


def sqs(action, p, host):
    """p is normalised: QueueName, QueueUrl, Attributes{}, AttributeNames[]."""
    def url(name):
        return "http://%s/%s/%s" % (host, ACCOUNT, name)

    def name_of(u):
        n = (u or "").rstrip("/").rsplit("/", 1)[-1]
        if n not in queues:
            raise SqsError("AWS.SimpleQueueService.NonExistentQueue",
                           "QueueDoesNotExist",
                           "The specified queue does not exist.")
        return n

    if action == "CreateQueue":
        with lock:
            queues.setdefault(p["QueueName"], {}).update(p.get("Attributes", {}))
        return {"QueueUrl": url(p["QueueName"])}
    if action == "GetQueueUrl":
        name_of(p.get("QueueName"))
        return {"QueueUrl": url(p["QueueName"])}
    if action == "GetQueueAttributes":
        n = name_of(p.get("QueueUrl"))
        a = {"QueueArn": "arn:aws:sqs:us-east-1:%s:%s" % (ACCOUNT, n),
             "ApproximateNumberOfMessages": "0",
             "ApproximateNumberOfMessagesNotVisible": "0"}
        a.update(queues[n])
        want = p.get("AttributeNames") or ["All"]
        return {"Attributes": a if "All" in want else
                {k: v for k, v in a.items() if k in want}}
    if action == "DeleteQueue":
        with lock:
            queues.pop(name_of(p.get("QueueUrl")), None)
        return {}
    if action == "SetQueueAttributes":
        queues[name_of(p.get("QueueUrl"))].update(p.get("Attributes", {}))
        return {}
    return None


def sqs_xml(action, res):
    inner = ""
    if "QueueUrl" in res:
        inner = "<QueueUrl>%s</QueueUrl>" % escape(res["QueueUrl"])
    if "Attributes" in res:
        inner = "".join("<Attribute><Name>%s</Name><Value>%s</Value></Attribute>"
                        % (escape(k), escape(v)) for k, v in res["Attributes"].items())
    result = "<%sResult>%s</%sResult>" % (action, inner, action) if inner or \
        action in ("CreateQueue", "GetQueueUrl", "GetQueueAttributes") else ""
    return ("<%sResponse xmlns=\"%s\">%s<ResponseMetadata><RequestId>q</RequestId>"
            "</ResponseMetadata></%sResponse>") % (action, SQSNS, result, action)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, code, body, ctype="text/xml", headers=None):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def service(self):
        m = re.search(r"Credential=[^/]+/\d+/[^/]+/([^/]+)/",
                      self.headers.get("Authorization", ""))
        return m.group(1) if m else "unknown"

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def handle_any(self):
        svc = self.service()
        body = self.body()
        if svc == "s3":
            return self.s3(body)
        if svc == "sqs" and self.headers.get("X-Amz-Target", "").startswith(
                "AmazonSQS."):
            return self.sqs_json(body)
        p = query_params(body.decode())
        action = p.pop("Action", "?")
        p.pop("Version", None)
        if svc == "ec2":
            if action == "RunInstances" and "UserData" in p:
                # keep it readable in the log
                p["UserData"] = base64.b64decode(p["UserData"]).decode(
                    "utf-8", "replace")
            record("ec2", action, p)
            out = ec2(action, p)
            if out is None:
                return self.reply(400, "<Response><Errors><Error><Code>"
                                  "InvalidAction</Code><Message>%s</Message>"
                                  "</Error></Errors></Response>" % action)
            return self.reply(200, out)
        if svc == "sqs":
            n = {k: v for k, v in p.items()
                 if not k.startswith(("Attribute.", "AttributeName."))}
            attrs = {a["Name"]: a.get("Value", "") for a in indexed(p, "Attribute")
                     if isinstance(a, dict)}
            if attrs:
                n["Attributes"] = attrs
            names = indexed(p, "AttributeName")
            if names:
                n["AttributeNames"] = names
            record("sqs", action, n)
            try:
                res = sqs(action, n, self.headers.get("Host"))
            except SqsError as e:
                return self.reply(400, "<ErrorResponse><Error><Type>Sender</Type>"
                                  "<Code>%s</Code><Message>%s</Message></Error>"
                                  "<RequestId>e</RequestId></ErrorResponse>" %
                                  (e.code, e.msg))
            if res is None:
                return self.reply(400, "<ErrorResponse><Error><Code>InvalidAction"
                                  "</Code><Message>%s</Message></Error>"
                                  "</ErrorResponse>" % action)
            return self.reply(200, sqs_xml(action, res))
        record(svc, action, p)
        return self.reply(400, "<Error><Code>Unknown</Code></Error>")

    def sqs_json(self, body):
        action = self.headers["X-Amz-Target"].split(".", 1)[1]
        p = json.loads(body or b"{}")
        record("sqs", action, p)
        try:
            res = sqs(action, p, self.headers.get("Host"))
        except SqsError as e:
            return self.reply(400, json.dumps({"__type": "com.amazonaws.sqs#" +
                                               e.jtype, "message": e.msg}),
                              "application/x-amz-json-1.0",
                              {"x-amzn-query-error": e.code + ";Sender"})
        if res is None:
            return self.reply(400, json.dumps({"__type": "InvalidAction"}),
                              "application/x-amz-json-1.0")
        return self.reply(200, json.dumps(res), "application/x-amz-json-1.0")

    def s3(self, body):
        u = urllib.parse.urlsplit(self.path)
        parts = u.path.lstrip("/").split("/", 1)
        bucket = parts[0]
        key = parts[1] if len(parts) > 1 else ""
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        if self.command == "PUT" and not key:
            action = "CreateBucket"
        elif self.command == "DELETE" and not key:
            action = "DeleteBucket"
        elif self.command == "GET" and not key and "list-type" in q:
            action = "ListObjectsV2"
        elif self.command == "GET" and not key:
            action = "ListObjects"
        elif self.command == "HEAD" and not key:
            action = "HeadBucket"
        elif self.command == "POST" and "delete" in q:
            action = "DeleteObjects"
        else:
            action = self.command + "Object"
        params = {"Bucket": bucket}
        if key:
            params["Key"] = key
        if action == "CreateBucket" and body:
            m = re.search(rb"<LocationConstraint>([^<]*)</LocationConstraint>",
                          body)
            if m:
                params["LocationConstraint"] = m.group(1).decode()
        for k, v in q.items():
            params["q:" + k] = v[-1]
        record("s3", action, params)
        if action == "CreateBucket":
            buckets.add(bucket)
            return self.reply(200, "", headers={"Location": "/" + bucket})
        if bucket not in buckets:
            return self.reply(404, "<Error><Code>NoSuchBucket</Code><Message>"
                              "The specified bucket does not exist</Message>"
                              "<BucketName>%s</BucketName></Error>" % bucket)
        if action == "DeleteBucket":
            buckets.discard(bucket)
            return self.reply(204, "")
        if action in ("ListObjectsV2", "ListObjects"):
            return self.reply(200, "<ListBucketResult xmlns=\"http://s3.amazonaws"
                              ".com/doc/2006-03-01/\"><Name>%s</Name><Prefix>"
                              "</Prefix><KeyCount>0</KeyCount><MaxKeys>1000"
                              "</MaxKeys><IsTruncated>false</IsTruncated>"
                              "</ListBucketResult>" % bucket)
        if action == "HeadBucket":
            return self.reply(200, "")
        return self.reply(200, "")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any


def main():
    global log_path
    portfile, log_path = sys.argv[1], sys.argv[2]
    open(log_path, "a").close()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    import os
    os.rename(portfile + ".tmp", portfile)
    srv.serve_forever()


if __name__ == "__main__":
    main()
