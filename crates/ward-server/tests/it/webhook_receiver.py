#!/usr/bin/env python3
"""A Standard Webhooks receiver for ward's tests.

It checks each request's signature with its own HMAC-SHA256 (Python's standard library, not
ward's code): signed content = f"{webhook-id}.{webhook-timestamp}.{body}", header
"v1,<base64 MAC>" under the bytes behind "whsec_". It records every request as one JSON line in
$LOG and answers 200, or 503 while the file $CONTROL says "down", or 401 for a bad signature.
With $DELAY_MS it takes that long to answer, and it notes when a webhook-id arrives while the
same id is still being answered ("overlap": one message attempted twice at once).

Prints its port on the first line of stdout. $PORT picks the port (to come back on it).
"""
import base64
import hashlib
import hmac
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = base64.b64decode(os.environ["SECRET"].removeprefix("whsec_"))
LOG = os.environ["LOG"]
CONTROL = os.environ.get("CONTROL", "")
DELAY = float(os.environ.get("DELAY_MS", "0")) / 1000.0
lock = threading.Lock()
inflight = set()


def signature_ok(wid, ts, body, header):
    signed = wid.encode() + b"." + ts.encode() + b"." + body
    expected = base64.b64encode(hmac.new(SECRET, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(part.split(",", 1)[1], expected)
        for part in header.split(" ")
        if part.startswith("v1,")
    )


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        wid = self.headers.get("webhook-id", "")
        ts = self.headers.get("webhook-timestamp", "")
        ok = signature_ok(wid, ts, body, self.headers.get("webhook-signature", ""))
        with lock:
            overlap = wid in inflight
            inflight.add(wid)
        try:
            if DELAY:
                time.sleep(DELAY)
            down = False
            if CONTROL and os.path.exists(CONTROL):
                with open(CONTROL) as f:
                    down = f.read().strip() == "down"
            status = 401 if not ok else (503 if down else 200)
            record = {
                "id": wid,
                "ts": int(ts) if ts.isdigit() else None,
                "received_at": time.time(),
                "sig_ok": ok,
                "overlap": overlap,
                "status": status,
                "content_type": self.headers.get("content-type", ""),
                "body": json.loads(body) if body else None,
            }
            with lock:
                with open(LOG, "a") as f:
                    f.write(json.dumps(record) + "\n")
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()
        finally:
            with lock:
                inflight.discard(wid)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "0"))), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
