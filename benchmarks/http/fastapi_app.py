#!/usr/bin/python3
"""The FastAPI baseline for benchmarks/http/run_http_bench.sh.

The strongest honest single-process FastAPI setup: one uvicorn worker on
uvloop + httptools, async routes, no access log, JSON bodies serialised
directly into a Response (skipping FastAPI's response-model machinery).

  GET /health                   -> {"status":"ok"}
  GET /api/v1/users/me/profile  -> the caller's profile, doing the same
      kind of work as kos-server's route: verify the EdDSA access token
      (PyJWT, algorithm pinned, exp/nbf/iat/iss/aud required, typ at+jwt,
      kid known) with public keys parsed ONCE at start-up from the running
      kos-server's JWKS (so both servers validate the very same token),
      check the role, read the user's row from SQLite on every request,
      return {"id","username","display_name","email","profile","roles"}.

At start-up it fetches the JWKS and, with --token, the user's profile from
kos-server, and writes that user record into a fresh SQLite file (--db).

  fastapi_app.py --port 8001 --kos-url http://127.0.0.1:8000 --token-file T --db /tmp/u.db

kos-server does more per authenticated request than this baseline (it also
checks the session behind the token and evaluates its RBAC policy); see
docs/benchmarks/http.md.
"""
import argparse
import json
import sqlite3
import sys
import urllib.request

import jwt
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response

ALLOWED_ROLES = frozenset({"admin", "user"})


def fetch_json(url, token=None):
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def make_app(keys, db_path, issuer, audience):
    """keys: kid -> public key object (parsed once)."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    # One connection for the process: uvicorn runs every request on the one
    # event-loop thread, and a point read by primary key takes microseconds,
    # so a thread-pool hop (or aiosqlite) would cost more than it saves.
    db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
    only_key = next(iter(keys.values())) if len(keys) == 1 else None
    def dumps(obj):
        return json.dumps(obj, separators=(",", ":"))

    def error(status, code, message):
        body = dumps({"error": {"code": code, "message": message}})
        return Response(body, status_code=status, media_type="application/json")

    @app.get("/health")
    async def health():
        return Response(dumps({"status": "ok"}), media_type="application/json")

    @app.get("/api/v1/users/me/profile")
    async def profile(request: Request):
        authz = request.headers.get("authorization", "")
        if authz[:7].lower() != "bearer ":
            return error(401, "UNAUTHENTICATED", "missing bearer token")
        token = authz[7:].strip()
        try:
            if only_key is not None:
                key = only_key
            else:
                key = keys.get(jwt.get_unverified_header(token).get("kid"))
                if key is None:
                    return error(401, "UNAUTHENTICATED", "unknown key id")
            dec = jwt.api_jwt.decode_complete(
                token, key, algorithms=["EdDSA"], audience=audience, issuer=issuer,
                options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub"]})
        except jwt.PyJWTError:
            return error(401, "UNAUTHENTICATED", "invalid access token")
        header, claims = dec["header"], dec["payload"]
        if header.get("typ") != "at+jwt" or header.get("kid") not in keys:
            return error(401, "UNAUTHENTICATED", "invalid access token")
        if not ALLOWED_ROLES.intersection(claims.get("roles") or ()):
            return error(403, "PERMISSION_DENIED", "role not allowed")
        row = db.execute(
            "SELECT id, username, display_name, email, profile, roles FROM users WHERE id = ?",
            (claims["sub"],)).fetchone()
        if row is None:
            return error(404, "NOT_FOUND", "no such user")
        return Response(dumps({"id": row[0], "username": row[1], "display_name": row[2],
                               "email": row[3], "profile": json.loads(row[4]),
                               "roles": json.loads(row[5])}),
                        media_type="application/json")

    return app


def main():
    ap = argparse.ArgumentParser(description="FastAPI baseline for the HTTP benchmark")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--kos-url", required=True, help="running kos-server, for JWKS and the user")
    ap.add_argument("--token-file", help="a kos access token; its user is copied into --db")
    ap.add_argument("--db", required=True, help="SQLite file to create")
    ap.add_argument("--issuer", default="kos")
    ap.add_argument("--audience", default="kos-api")
    a = ap.parse_args()

    jwks = fetch_json(a.kos_url + "/.well-known/jwks.json")
    keys = {k["kid"]: jwt.PyJWK(k, algorithm="EdDSA").key for k in jwks["keys"]}
    if not keys:
        sys.exit("fastapi_app.py: kos-server's JWKS is empty")

    db = sqlite3.connect(a.db)
    db.execute("DROP TABLE IF EXISTS users")
    db.execute("CREATE TABLE users (id TEXT PRIMARY KEY, username TEXT NOT NULL, "
               "display_name TEXT, email TEXT, profile TEXT, roles TEXT)")
    if a.token_file:
        with open(a.token_file) as f:
            token = f.read().strip()
        u = fetch_json(a.kos_url + "/api/v1/users/me/profile", token)
        db.execute("INSERT INTO users VALUES (?,?,?,?,?,?)",
                   (u["id"], u["username"], u.get("display_name", ""), u.get("email", ""),
                    json.dumps(u.get("profile", {})), json.dumps(u.get("roles", []))))
    db.commit()
    db.close()

    app = make_app(keys, a.db, a.issuer, a.audience)
    print("fastapi_app: listening on http://%s:%d" % (a.host, a.port), flush=True)
    uvicorn.run(app, host=a.host, port=a.port, loop="uvloop", http="httptools", workers=1,
                log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
