"""A third-party OAuth client for ward's registration tests (crates/ward-server/tests/it/
registration/authlib.rs): Authlib (PyPI), an implementation independent of ward's, registers a
client (RFC 7591), builds the authorization request with PKCE, redeems the code, calls ward's
API with the token and refreshes it. The test drives the browser part (sign-in, consent) over
HTTP between two calls.

Usage: authlib_client.py < command.json; prints one JSON object.
  {"cmd": "register", "issuer", "metadata", "initial_access_token"?, "endpoint"?}
      -> {"status", "body", "registration_endpoint"}   (body validated by Authlib's RFC 7591
         ClientMetadataClaims when the status is 201)
  {"cmd": "authorize", "issuer", "client"}
      -> {"url", "state", "code_verifier"}
  {"cmd": "redeem", "issuer", "client", "state", "code_verifier", "callback", "api_path"}
      -> {"token", "api_status", "api_body", "refreshed"}   (or {"error", "description"})
  {"cmd": "refresh", "issuer", "client", "refresh_token"}
      -> {"token"} or {"error", "description"}
"client" is the registration response (client_id, client_secret?, redirect_uris, scope,
token_endpoint_auth_method).
"""
import json
import os
import sys

# ward's tests run on http://127.0.0.1; Authlib refuses plain http unless told.
os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"

from authlib.common.security import generate_token  # noqa: E402
from authlib.integrations.base_client.errors import OAuthError  # noqa: E402
from authlib.integrations.requests_client import OAuth2Session  # noqa: E402
from authlib.oauth2.rfc7591 import ClientMetadataClaims  # noqa: E402


def discovery(issuer):
    # withhold_token: no token of the session's own (discovery, registration).
    r = OAuth2Session().get(
        issuer.rstrip("/") + "/.well-known/openid-configuration", withhold_token=True, timeout=10
    )
    r.raise_for_status()
    return r.json()


def session(client, **kwargs):
    return OAuth2Session(
        client["client_id"],
        client.get("client_secret"),
        scope=client.get("scope"),
        redirect_uri=client["redirect_uris"][0],
        code_challenge_method="S256",
        token_endpoint_auth_method=client["token_endpoint_auth_method"],
        **kwargs,
    )


def register(cmd):
    meta = discovery(cmd["issuer"])
    out = {"registration_endpoint": meta.get("registration_endpoint")}
    # "endpoint": where to post when discovery names none (to see the refusal).
    endpoint = out["registration_endpoint"] or cmd.get("endpoint")
    headers = {}
    if cmd.get("initial_access_token"):
        headers["Authorization"] = "Bearer " + cmd["initial_access_token"]
    r = OAuth2Session().post(
        endpoint, json=cmd["metadata"], headers=headers, withhold_token=True, timeout=10
    )
    out["status"] = r.status_code
    out["body"] = r.json()
    if r.status_code == 201:
        # The answer is RFC 7591 client metadata, as a client library reads it.
        ClientMetadataClaims(out["body"], {}).validate()
    return out


def authorize(cmd):
    meta = discovery(cmd["issuer"])
    verifier = generate_token(64)
    url, state = session(cmd["client"]).create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier
    )
    return {"url": url, "state": state, "code_verifier": verifier}


def redeem(cmd):
    meta = discovery(cmd["issuer"])
    s = session(cmd["client"], state=cmd["state"])
    try:
        token = s.fetch_token(
            meta["token_endpoint"],
            authorization_response=cmd["callback"],
            code_verifier=cmd["code_verifier"],
            state=cmd["state"],
        )
    except OAuthError as e:
        return {"error": e.error, "description": e.description}
    api = s.get(cmd["issuer"].rstrip("/") + cmd["api_path"], timeout=10)
    refreshed = None
    if token.get("refresh_token"):
        refreshed = dict(s.refresh_token(meta["token_endpoint"]))
    return {
        "token": dict(token),
        "api_status": api.status_code,
        "api_body": api.json(),
        "refreshed": refreshed,
    }


def refresh(cmd):
    meta = discovery(cmd["issuer"])
    try:
        token = session(cmd["client"]).refresh_token(
            meta["token_endpoint"], refresh_token=cmd["refresh_token"]
        )
    except OAuthError as e:
        return {"error": e.error, "description": e.description}
    return {"token": dict(token)}


COMMANDS = {"register": register, "authorize": authorize, "redeem": redeem, "refresh": refresh}

if __name__ == "__main__":
    command = json.load(sys.stdin)
    json.dump(COMMANDS[command["cmd"]](command), sys.stdout)
