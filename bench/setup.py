#!/usr/bin/env python3
"""Prepares ward for the benchmarks in bench/ (standard library only): its configuration, then
credentials.

config: prints the ward.toml every benchmark starts from: the listen address, the data
directory (and a PostgreSQL URL when given), the bootstrap admin, rate limits no person would
need (a benchmark signs in far more often), the confidential client `bench`, and the routes
asked for (`--route PREFIX=URL`, `--ws-route PREFIX=URL`, `--tcp-route PREFIX=HOST:PORT`, each
needing containers:read).

ward: signs the bootstrap admin in through the pages (GET /login for the CSRF pair, POST
/login/password), runs the authorization code flow of the confidential client N times to get
N refresh tokens (one session each; the first asks for consent) and a user access token (JWT
with a session), creates an API token with the session cookie, and gets a client_credentials
token.
peer: asks the bench-only /bench/mint endpoint for N refresh tokens and gets a
client_credentials token (opaque, for introspection).

Writes files into OUT_DIR: refresh_tokens, access_token, api_token, cc_token, csrf,
csrf_cookie, session_cookie.
"""
import argparse
import base64
import http.client
import json
import re
import sys
import urllib.parse


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


def basic(client_id, secret):
    raw = f"{client_id}:{secret}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def form(fields):
    return urllib.parse.urlencode(fields)


FORM = {"Content-Type": "application/x-www-form-urlencoded"}

# The credentials every benchmark's ward is configured with.
ADMIN_EMAIL = "admin@bench.local"
ADMIN_PASSWORD = "bench-admin-password"
CLIENT = "bench"
SECRET = "bench-secret-0123456789"


def config(port, data_dir, database_url="", routes=(), ws_routes=(), tcp_routes=()):
    """The ward.toml of a benchmark (see the module's docstring)."""
    db = f'database_url = "{database_url}"\n' if database_url else ""
    text = f"""listen = "127.0.0.1:{port}"
data_dir = "{data_dir}"
{db}bootstrap_admin_email = "{ADMIN_EMAIL}"
bootstrap_admin_password = "{ADMIN_PASSWORD}"

# Generous: a benchmark signs in far more often than any limit meant for people.
[rate_limits]
window = "1h"
signin_per_ip = 4000000000
signin_failures_per_account = 4000000000
user_code_per_ip = 4000000000

[[clients]]
id = "{CLIENT}"
secret = "{SECRET}"
redirect_uris = ["http://127.0.0.1:1/callback"]
grant_types = ["authorization_code", "refresh_token", "client_credentials"]
scopes = ["containers:read"]
"""
    for kind, entries in (("upstream", routes), ("ws", ws_routes), ("tcp", tcp_routes)):
        for entry in entries:
            prefix, target = entry.split("=", 1)
            text += f'\n[[routes]]\nprefix = "{prefix}"\n'
            if kind == "tcp":
                text += f'tcp = "{target}"\n'
            else:
                text += f'upstream = "{target}"\n'
            if kind == "ws":
                text += "websocket = true\n"
            text += 'permission = "containers:read"\n'
    return text


def write(out, name, text):
    with open(f"{out}/{name}", "w") as f:
        f.write(text + "\n")


def ward(port, out, n, email, password, client_id, secret):
    resp, page = request(port, "GET", "/login")
    cookies = resp.headers.get_all("Set-Cookie") or []
    # The pre-session cookie, and the form's token (an HMAC bound to that cookie).
    csrf_cookie = next(c.split(";")[0].split("=", 1)[1] for c in cookies if c.startswith("ward_csrf="))
    text = page.decode() if isinstance(page, bytes) else page
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', text).group(1)
    write(out, "csrf", csrf)
    write(out, "csrf_cookie", csrf_cookie)
    resp, body = request(
        port, "POST", "/login/password",
        form({"csrf_token": csrf, "email": email, "password": password, "return_to": "/"}),
        {**FORM, "Cookie": f"ward_csrf={csrf_cookie}"},
    )
    cookies = resp.headers.get_all("Set-Cookie") or []
    session = [c.split(";")[0] for c in cookies if c.startswith("ward_session=")]
    if resp.status // 100 != 3 or not session:
        sys.exit(f"ward sign-in failed: {resp.status} {body[:200]!r}")
    write(out, "session_cookie", session[0])
    auth = basic(client_id, secret)
    refresh_tokens, access = [], None
    for i in range(n):
        query = form({
            "response_type": "code", "client_id": client_id,
            "redirect_uri": "http://127.0.0.1:1/callback",
            "scope": "openid containers:read", "state": f"s{i}",
        })
        resp, body = request(port, "GET", f"/oauth/authorize?{query}", headers={"Cookie": session[0]})
        if resp.status == 200:
            # A configured client asks for consent the first time (SPEC §2.11): allow it.
            text = body.decode()
            fields = {
                name: re.search(rf'name="{name}" value="([^"]*)"', text).group(1)
                for name in ("csrf_token", "request")
            }
            fields = {k: v.replace("&amp;", "&") for k, v in fields.items()}
            fields["decision"] = "allow"
            resp, body = request(port, "POST", "/oauth/authorize/decision", form(fields),
                                 {**FORM, "Cookie": session[0]})
        location = resp.headers.get("Location", "")
        code = re.search(r"[?&]code=([^&]+)", location)
        if not code:
            sys.exit(f"ward authorize failed: {resp.status} {location} {body[:200]!r}")
        resp, body = request(
            port, "POST", "/oauth/token",
            form({"grant_type": "authorization_code", "code": urllib.parse.unquote(code.group(1)),
                  "redirect_uri": "http://127.0.0.1:1/callback"}),
            {**FORM, "Authorization": auth},
        )
        tokens = json.loads(body)
        if "refresh_token" not in tokens:
            sys.exit(f"ward code exchange failed: {resp.status} {body[:200]!r}")
        refresh_tokens.append(tokens["refresh_token"])
        access = tokens["access_token"]
    write(out, "refresh_tokens", "\n".join(refresh_tokens))
    write(out, "access_token", access)
    # API tokens are made by a first-party session (a third-party client's token may not).
    resp, body = request(
        port, "POST", "/api/tokens", json.dumps({"name": "bench", "scopes": ["containers:read"]}),
        {"Content-Type": "application/json", "Cookie": session[0]},
    )
    created = json.loads(body)
    api_token = created.get("token") or created.get("secret")
    if not api_token:
        sys.exit(f"ward API token creation failed: {resp.status} {body[:300]!r}")
    write(out, "api_token", api_token)
    resp, body = request(port, "POST", "/oauth/token",
                         form({"grant_type": "client_credentials", "scope": "containers:read"}),
                         {**FORM, "Authorization": auth})
    write(out, "cc_token", json.loads(body)["access_token"])


def peer(port, out, n, client_id, secret):
    resp, body = request(port, "POST", f"/bench/mint?n={n}")
    write(out, "refresh_tokens", "\n".join(json.loads(body)["refresh_tokens"]))
    resp, body = request(port, "POST", "/token",
                         form({"grant_type": "client_credentials", "scope": "containers:read"}),
                         {**FORM, "Authorization": basic(client_id, secret), "X-Bench-Opaque": "1"})
    write(out, "cc_token", json.loads(body)["access_token"])


def config_main(argv):
    p = argparse.ArgumentParser(prog="setup.py config", description="prints a benchmark's ward.toml")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--database-url", default="")
    p.add_argument("--route", action="append", default=[], metavar="PREFIX=URL")
    p.add_argument("--ws-route", action="append", default=[], metavar="PREFIX=URL")
    p.add_argument("--tcp-route", action="append", default=[], metavar="PREFIX=HOST:PORT")
    a = p.parse_args(argv)
    sys.stdout.write(config(a.port, a.data_dir, a.database_url, a.route, a.ws_route, a.tcp_route))


if __name__ == "__main__":
    if sys.argv[1] == "config":
        config_main(sys.argv[2:])
        sys.exit(0)
    kind, port, out, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    if kind == "ward":
        ward(port, out, n, *sys.argv[5:9])
    else:
        peer(port, out, n, *sys.argv[5:7])
