#!/usr/bin/env python3
"""The resource-indicator attack of issue #20 against one ward binary.

    bench/aud_attack.py PATH_TO_WARD [PORT]

Starts that ward on a temporary SQLite database with two proxy routes, /a and /b, to a small
backend; signs the bootstrap admin in; runs the code flow of a confidential client asking for
`resource=<ward>/a` (at authorize and at the token request); and calls both routes with the
token, then refreshes without `resource` and calls both again. Before #20 ward ignored
`resource`: the token has ward's audience and works at /b. Since #20 it works at /a only (401
invalid_token at /b), and since decision 229 the refreshed one too. Prints one line per call.
"""
import base64
import http.client
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

EMAIL, PASSWORD = "admin@attack.local", "attack-admin-password"
CLIENT, SECRET, REDIRECT = "app", "app-secret-0123456789", "http://127.0.0.1:1/callback"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class Backend(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"backend")

    def log_message(self, *args):
        pass


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


def form(fields):
    return urllib.parse.urlencode(fields)


def main():
    binary = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 18090
    backend = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    upstream = f"http://127.0.0.1:{backend.server_address[1]}"
    work = tempfile.mkdtemp(prefix="ward-aud-")
    issuer = f"http://127.0.0.1:{port}"
    with open(f"{work}/ward.toml", "w") as f:
        f.write(f"""listen = "127.0.0.1:{port}"
data_dir = "{work}/data"
bootstrap_admin_email = "{EMAIL}"
bootstrap_admin_password = "{PASSWORD}"

[[clients]]
id = "{CLIENT}"
secret = "{SECRET}"
redirect_uris = ["{REDIRECT}"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["containers:read"]

[[routes]]
prefix = "/a"
upstream = "{upstream}"
permission = "containers:read"

[[routes]]
prefix = "/b"
upstream = "{upstream}"
permission = "containers:read"
""")
    log = open(f"{work}/ward.log", "w")
    server = subprocess.Popen([binary, "server", "--config", f"{work}/ward.toml"],
                              stdout=log, stderr=log)
    try:
        for _ in range(600):
            try:
                if request(port, "GET", "/readyz")[0].status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        run(port, issuer)
    finally:
        server.terminate()
        server.wait()


def run(port, issuer):
    resp, page = request(port, "GET", "/login")
    cookies = resp.headers.get_all("Set-Cookie") or []
    csrf_cookie = next(c.split(";")[0] for c in cookies if c.startswith("ward_csrf="))
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.decode()).group(1)
    resp, _ = request(port, "POST", "/login/password",
                      form({"csrf_token": csrf, "email": EMAIL, "password": PASSWORD,
                            "return_to": "/"}), {**FORM, "Cookie": csrf_cookie})
    session = next(c.split(";")[0] for c in resp.headers.get_all("Set-Cookie") or []
                   if c.startswith("ward_session="))
    resource = f"{issuer}/a"
    query = form({"response_type": "code", "client_id": CLIENT, "redirect_uri": REDIRECT,
                  "scope": "openid containers:read", "state": "s", "resource": resource})
    resp, body = request(port, "GET", f"/oauth/authorize?{query}", headers={"Cookie": session})
    if resp.status == 200:
        text = body.decode()
        fields = {n: re.search(rf'name="{n}" value="([^"]*)"', text).group(1).replace("&amp;", "&")
                  for n in ("csrf_token", "request")}
        fields["decision"] = "allow"
        resp, body = request(port, "POST", "/oauth/authorize/decision", form(fields),
                             {**FORM, "Cookie": session})
    code = urllib.parse.unquote(re.search(r"[?&]code=([^&]+)", resp.headers["Location"]).group(1))
    auth = "Basic " + base64.b64encode(f"{CLIENT}:{SECRET}".encode()).decode()
    resp, body = request(port, "POST", "/oauth/token",
                         form({"grant_type": "authorization_code", "code": code,
                               "redirect_uri": REDIRECT, "resource": resource}),
                         {**FORM, "Authorization": auth})
    tokens = json.loads(body)
    report(port, "code token, resource=/a", tokens)
    resp, body = request(port, "POST", "/oauth/token",
                         form({"grant_type": "refresh_token",
                               "refresh_token": tokens["refresh_token"]}),
                         {**FORM, "Authorization": auth})
    report(port, "refreshed, no resource", json.loads(body))


def report(port, label, tokens):
    if "access_token" not in tokens:
        print(f"{label}: token request refused: {tokens}")
        return
    payload = tokens["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    print(f"{label}: aud={claims['aud']}")
    for route in ("/a", "/b"):
        resp, body = request(port, "GET", f"{route}/x",
                             headers={"Authorization": f"Bearer {tokens['access_token']}"})
        detail = "" if resp.status == 200 else " " + body.decode()[:160]
        print(f"  GET {route}/x -> {resp.status}{detail}")


if __name__ == "__main__":
    sys.exit(main())
