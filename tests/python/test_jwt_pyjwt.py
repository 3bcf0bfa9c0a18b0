"""libkos access tokens verified by PyJWT using only the published JWKS.

Runs kos_jwt_tool (found under $KOS_BUILD_DIR) to issue a token and export
the JWKS, then verifies with PyJWT's EdDSA support (python3-jwt with
python3-cryptography) and, independently, with cryptography's raw Ed25519.
"""
import base64
import json
import os
import subprocess
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def _tool():
    build = os.environ.get("KOS_BUILD_DIR")
    if not build:
        pytest.skip("KOS_BUILD_DIR is not set (run through ctest)")
    for rel in ("tests/authn/kos_jwt_tool", "bin/kos_jwt_tool", "kos_jwt_tool"):
        path = os.path.join(build, rel)
        if os.access(path, os.X_OK):
            return path
    pytest.fail("kos_jwt_tool not built under %s" % build)


def issue(*args):
    out = subprocess.run([_tool(), "issue", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def key_for(jwks, token):
    kid = jwt.get_unverified_header(token)["kid"]
    keyset = jwt.PyJWKSet.from_dict(jwks)
    matches = [k for k in keyset.keys if k.key_id == kid]
    assert len(matches) == 1, "kid must be in the JWKS exactly once"
    return matches[0]


def decode(doc, token=None, **kw):
    token = token or doc["token"]
    return jwt.decode(
        token,
        key=key_for(doc["jwks"], token).key,
        algorithms=["EdDSA"],
        audience=doc["audience"],
        issuer=doc["issuer"],
        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]},
        **kw,
    )


def test_jwks_shape():
    doc = issue()
    keys = doc["jwks"]["keys"]
    assert len(keys) == 1
    k = keys[0]
    assert k["kty"] == "OKP" and k["crv"] == "Ed25519"
    assert k["alg"] == "EdDSA" and k["use"] == "sig"
    assert "d" not in k
    assert len(b64url_decode(k["x"])) == 32


def test_pyjwt_verifies_with_jwks_only():
    doc = issue()
    header = jwt.get_unverified_header(doc["token"])
    assert header == {"alg": "EdDSA", "typ": "at+jwt", "kid": doc["kid"]}
    claims = decode(doc)
    assert claims["sub"] == doc["sub"]
    assert claims["roles"] == ["user", "editor"]
    assert claims["scope"] == "memory:read"
    assert claims["exp"] - claims["iat"] == 900
    assert abs(claims["iat"] - time.time()) < 120


def test_pyjwt_picks_the_right_key_after_rotation():
    doc = issue("--rotate")
    assert len(doc["jwks"]["keys"]) == 2
    assert decode(doc)["sub"] == doc["sub"]


def test_raw_ed25519_signature_matches():
    doc = issue()
    h, p, s = doc["token"].split(".")
    key = Ed25519PublicKey.from_public_bytes(b64url_decode(doc["jwks"]["keys"][0]["x"]))
    key.verify(b64url_decode(s), (h + "." + p).encode())


def test_pyjwt_refuses_tampering():
    doc = issue()
    h, p, s = doc["token"].split(".")
    claims = json.loads(b64url_decode(p))
    claims["roles"] = ["admin"]
    forged_p = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(jwt.InvalidSignatureError):
        decode(doc, token=".".join([h, forged_p, s]))


def test_pyjwt_refuses_expired_and_wrong_audience():
    old = issue("--age-seconds", "3600")
    with pytest.raises(jwt.ExpiredSignatureError):
        decode(old)
    doc = issue()
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(doc["token"], key=key_for(doc["jwks"], doc["token"]).key,
                   algorithms=["EdDSA"], audience="someone-else")
