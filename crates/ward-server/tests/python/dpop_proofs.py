"""DPoP proofs (RFC 9449) made by PyJWT and cryptography, an implementation independent of
ward's, for ward's interoperability tests (crates/ward-server/tests/it/dpop/interop.rs).

Usage: dpop_proofs.py KEY_FILE [ES256|EdDSA] < requests.json
KEY_FILE holds a P-256 (ES256, the default) or Ed25519 (EdDSA) private key (PEM); it is created
when missing, so several calls sign with one key. stdin: [{"htm", "htu", "iat", "token"?, "nonce"?}, ...].
stdout: {"jkt": RFC 7638 thumbprint, "proofs": [one proof per request]}.
"""
import base64
import hashlib
import json
import os
import sys
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


path = sys.argv[1]
alg = sys.argv[2] if len(sys.argv) > 2 else "ES256"
if os.path.exists(path):
    with open(path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
else:
    if alg == "EdDSA":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    with open(path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

if alg == "EdDSA":
    public = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
    jwk = {k: public[k] for k in ("kty", "crv", "x")}
else:
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk = {k: public[k] for k in ("kty", "crv", "x", "y")}
canonical = json.dumps(jwk, sort_keys=True, separators=(",", ":"))
jkt = b64url(hashlib.sha256(canonical.encode()).digest())

proofs = []
for r in json.load(sys.stdin):
    claims = {"jti": str(uuid.uuid4()), "htm": r["htm"], "htu": r["htu"], "iat": r["iat"]}
    if r.get("token"):
        claims["ath"] = b64url(hashlib.sha256(r["token"].encode("ascii")).digest())
    if r.get("nonce"):
        claims["nonce"] = r["nonce"]
    proofs.append(
        jwt.encode(claims, key, algorithm=alg, headers={"typ": "dpop+jwt", "jwk": jwk})
    )
print(json.dumps({"jkt": jkt, "proofs": proofs}))
