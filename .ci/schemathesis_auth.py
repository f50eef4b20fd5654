#!/usr/bin/env python3
"""Obtains the three credentials the Schemathesis run uses, through ward's real flows over HTTP.

Usage: schemathesis_auth.py BASE_URL ADMIN_EMAIL ADMIN_PASSWORD OUT_DIR

Writes OUT_DIR/admin, OUT_DIR/user and OUT_DIR/api_token, each one bearer credential:
- admin: the CLI sign-in (PKCE authorization code at /cli-login, signed in at the pages, consent,
  then POST /oauth/token) gives an access token;
- user: POST /api/admin/users as the admin creates a normal user, who then signs in the same way;
- api_token: POST /api/tokens as the user creates an API token.
Standard library only, so it runs before and apart from the Schemathesis install.
"""

import base64
import hashlib
import html
import http.cookiejar
import json
import os
import re
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request

LOOPBACK = "http://127.0.0.1:49152/callback"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def fail(msg):
    sys.exit(f"schemathesis_auth: {msg}")


class Client:
    def __init__(self, base):
        self.base = base.rstrip("/")
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect()
        )

    def request(self, method, path, form=None, body=None, bearer=None):
        url = path if path.startswith("http") else self.base + path
        data, headers = None, {}
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with self.opener.open(req) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()


def hidden(page, name):
    m = re.search(r'<input[^>]*name="%s"[^>]*>' % re.escape(name), page)
    if not m:
        return None
    v = re.search(r'value="([^"]*)"', m.group(0))
    return html.unescape(v.group(1)) if v else None


def form_action(page):
    m = re.search(r'<form[^>]*action="([^"]*)"', page)
    if not m:
        fail("page has no form")
    return html.unescape(m.group(1))


def submit(client, page, fields):
    params = {}
    for name in ("csrf_token", "return_to", "request", "user_code"):
        if name not in fields:
            v = hidden(page, name)
            if v is not None:
                params[name] = v
    params.update(fields)
    return client.request("POST", form_action(page), form=params)


def cli_access_token(base, email, password):
    """The CLI's sign-in, driven as a browser would: returns an access token."""
    c = Client(base)
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    )
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": "ward-cli",
            "redirect_uri": LOOPBACK,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": "st4te",
            "scope": "openid offline_access",
            "device_name": "schemathesis",
        }
    )
    status, headers, _ = c.request("GET", "/cli-login?" + query)
    if status != 303:
        fail(f"/cli-login answered {status}, expected 303 to the sign-in page")
    status, _, page = c.request("GET", headers.get("Location", ""))
    if status != 200:
        fail(f"sign-in page answered {status}")
    status, _, page = submit(c, page, {"email": email})
    if status != 200 or 'name="password"' not in page:
        fail(f"email step answered {status} without a password form")
    status, headers, _ = submit(c, page, {"email": email, "password": password})
    if status != 303:
        fail(f"password step answered {status} for {email}")
    status, _, page = c.request("GET", headers.get("Location", ""))
    if status != 200:
        fail(f"consent page answered {status}")
    status, headers, _ = submit(c, page, {"decision": "allow"})
    location = headers.get("Location", "")
    if status != 303 or not location.startswith(LOOPBACK):
        fail(f"consent answered {status} to {location!r}")
    code = urllib.parse.parse_qs(urllib.parse.urlparse(location).query).get("code", [None])[0]
    if not code:
        fail("no code in the redirect")
    status, _, body = c.request(
        "POST",
        "/oauth/token",
        form={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": LOOPBACK,
            "client_id": "ward-cli",
            "code_verifier": verifier,
        },
    )
    if status != 200:
        fail(f"/oauth/token answered {status}: {body}")
    return json.loads(body)["access_token"]


def main():
    if len(sys.argv) != 5:
        fail(__doc__.strip().splitlines()[2])
    base, admin_email, admin_password, out = sys.argv[1:]
    admin = cli_access_token(base, admin_email, admin_password)

    user_email, user_password = "schemathesis-user@example.com", secrets.token_urlsafe(18)
    c = Client(base)
    status, _, body = c.request(
        "POST",
        "/api/admin/users",
        body={"email": user_email, "password": user_password, "role": "user"},
        bearer=admin,
    )
    if status != 201:
        fail(f"POST /api/admin/users answered {status}: {body}")
    user = cli_access_token(base, user_email, user_password)

    status, _, body = c.request(
        "POST",
        "/api/tokens",
        body={"name": "schemathesis", "scopes": ["containers:read", "containers:write"]},
        bearer=user,
    )
    if status != 201:
        fail(f"POST /api/tokens answered {status}: {body}")
    api_token = json.loads(body)["token"]

    os.makedirs(out, exist_ok=True)
    for name, value in (("admin", admin), ("user", user), ("api_token", api_token)):
        with open(os.path.join(out, name), "w") as f:
            f.write(value)


if __name__ == "__main__":
    main()
