#!/usr/bin/python3
"""End-to-end test of deploy/nginx.conf in front of a real kos-server.

Starts kos-server on a free port with a copy of deploy/config, makes a
development certificate with scripts/dev-cert.sh, renders deploy/nginx.conf
for a temporary non-root prefix (tests/gateway/render_conf.py) and starts
nginx in front of the server and of one dead upstream. Then checks:
  a) /health and a login through TLS (certificate verified against the
     generated cert as CA), request ids, failover past the dead replica;
  b) the auth rate limit: hammering /api/v1/auth/login gets nginx's 429 with
     the JSON error body and Retry-After, while other zones still pass;
  c) TLS: plain HTTP to the TLS port is refused, the HTTP port only
     redirects, TLS 1.2 and 1.3 succeed, TLS 1.1 does not;
  d) nginx's own errors (413, upstream down) are JSON in kos-server's shape.

  gateway_test.py --kos-server PATH --source-dir DIR
Exit 0 on success, 1 on failure, 77 (ctest SKIP_RETURN_CODE) without nginx.
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import render_conf  # noqa: E402

SKIP = 77
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def find_nginx():
    for p in [shutil.which("nginx"), "/usr/sbin/nginx"]:
        if p and os.access(p, os.X_OK):
            return p
    return None


class Proc:
    """A child process whose output is collected by a thread."""

    def __init__(self, name, argv, log_path):
        self.name = name
        self.log_path = log_path
        self.lines = []
        self.cond = threading.Condition()
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, text=True,
                                  start_new_session=True)
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        with open(self.log_path, "w") as log:
            for line in self.p.stdout:
                log.write(line)
                log.flush()
                with self.cond:
                    self.lines.append(line)
                    self.cond.notify_all()

    def wait_line(self, prefix, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    if line.startswith(prefix):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or self.p.poll() is not None:
                    return None
                self.cond.wait(min(left, 0.2))

    def stop(self, sig=signal.SIGTERM, grace=10):
        if self.p.poll() is None:
            try:
                self.p.send_signal(sig)
                self.p.wait(grace)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.t.join(2)

    def output(self):
        with self.cond:
            return "".join(self.lines)


def wait_tcp(port, timeout, proc):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.p.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Client:
    """HTTPS to the gateway, the generated certificate as the only CA."""

    def __init__(self, port, cafile):
        self.port = port
        self.ctx = ssl.create_default_context(cafile=cafile)

    def request(self, method, path, body=None, headers=None, conn=None):
        own = conn is None
        c = conn or http.client.HTTPSConnection("localhost", self.port, context=self.ctx,
                                                timeout=20)
        h = dict(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        raw = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        if own:
            c.close()
        try:
            js = json.loads(raw) if raw else None
        except ValueError:
            js = None
        return r.status, hdrs, js, raw


def is_error_shape(js, code):
    return (isinstance(js, dict) and isinstance(js.get("error"), dict)
            and js["error"].get("code") == code
            and isinstance(js["error"].get("message"), str) and js["error"]["message"] != "")


def tls_handshake(port, cafile, min_v, max_v, lower_seclevel=False):
    """Returns (negotiated version, None) or (None, error string)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    if lower_seclevel:
        # OpenSSL 3 refuses TLS < 1.2 at security level 2 on the client side;
        # lower it so that a refusal can only come from the server.
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = min_v
    ctx.maximum_version = max_v
    try:
        with socket.create_connection(("127.0.0.1", port), 5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                return s.version(), None
    except (ssl.SSLError, OSError) as e:
        return None, "%s: %s" % (type(e).__name__, e)


def client_can_offer_tls11():
    """Whether this Python/OpenSSL lets a client configure TLS 1.0-1.1 at all."""
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        return True
    except (ValueError, ssl.SSLError, AttributeError):
        return False


def run(args):
    nginx = find_nginx()
    if not nginx:
        print("SKIP: nginx not found (apt-get install nginx-light); the gateway config is untested")
        return SKIP
    if not os.access(args.kos_server, os.X_OK):
        print("FAIL: kos-server not executable: %s" % args.kos_server)
        return 1
    src = os.path.abspath(args.source_dir)
    tmp = tempfile.mkdtemp(prefix="kos-gateway-test-")
    procs = []
    try:
        # --- certificate ----------------------------------------------------
        out = subprocess.run([os.path.join(src, "scripts", "dev-cert.sh"),
                              os.path.join(tmp, "tls")],
                             check=True, capture_output=True, text=True).stdout
        paths = dict(l.split("=", 1) for l in out.split())
        cert, key = paths["cert"], paths["key"]
        check(os.stat(key).st_mode & 0o777 == 0o600, "dev-cert.sh key is 0600")

        # --- kos-server -------------------------------------------------------
        shutil.copytree(os.path.join(src, "deploy", "config"), os.path.join(tmp, "config"))
        pw_file = os.path.join(tmp, "admin-password")
        kos_port = free_port()
        kos = Proc("kos-server", [
            args.kos_server, "--host", "127.0.0.1", "--port", str(kos_port),
            "--data", os.path.join(tmp, "data"), "--config", os.path.join(tmp, "config"),
            "--logs", os.path.join(tmp, "logs"), "--threads", "4",
            "--admin-password-file", pw_file], os.path.join(tmp, "kos-server.log"))
        procs.append(kos)
        line = kos.wait_line("kos-server: listening on", 40)
        if not check(line is not None and wait_tcp(kos_port, 10, kos),
                     "kos-server listening on port %d" % kos_port):
            print(kos.output())
            return 1

        # --- nginx ------------------------------------------------------------
        prefix = os.path.join(tmp, "nginx")
        os.makedirs(prefix)
        tls_port, http_port, dead_port = free_port(), free_port(), free_port()
        with open(os.path.join(src, "deploy", "nginx.conf")) as f:
            conf = render_conf.render(
                f.read(), prefix, tls_port, http_port,
                # The dead replica comes first: round robin hits it at once.
                ["127.0.0.1:%d" % dead_port, "127.0.0.1:%d" % kos_port], cert, key,
                max_fails=1, fail_timeout="30s")
        conf_path = os.path.join(prefix, "nginx.conf")
        with open(conf_path, "w") as f:
            f.write(conf)
        t = subprocess.run([nginx, "-t", "-q", "-p", prefix + "/", "-c", conf_path],
                           capture_output=True, text=True)
        if not check(t.returncode == 0, "nginx -t accepts the rendered deploy/nginx.conf"):
            print(t.stdout + t.stderr)
            return 1
        ngx = Proc("nginx", [nginx, "-p", prefix + "/", "-c", conf_path, "-g", "daemon off;"],
                   os.path.join(tmp, "nginx.out"))
        procs.append(ngx)
        if not check(wait_tcp(tls_port, 10, ngx), "nginx listening on %d" % tls_port):
            print(ngx.output())
            return 1
        cl = Client(tls_port, cert)

        # --- a) proxying --------------------------------------------------------
        oks = 0
        for _ in range(6):
            st, h, js, _ = cl.request("GET", "/health")
            oks += st == 200 and js == {"status": "ok"}
        check(oks == 6, "/health through TLS: 6/6 are 200 {\"status\":\"ok\"} "
              "despite the dead replica (%d/6)" % oks)
        st, h, js, _ = cl.request("GET", "/health", headers={"X-Request-Id": "gw-test-42"})
        check(h.get("x-request-id") == "gw-test-42", "a client's X-Request-Id reaches "
              "kos-server and comes back (%r)" % h.get("x-request-id"))
        st, h, js, _ = cl.request("GET", "/health", headers={"X-Request-Id": "bad id\x7f"})
        rid = h.get("x-request-id", "")
        check(len(rid) == 32 and all(c in "0123456789abcdef" for c in rid),
              "an ill-formed X-Request-Id is replaced by nginx's (%r)" % rid)
        check("strict-transport-security" in h, "HSTS header set")

        with open(pw_file) as f:
            password = f.read().strip()
        st, h, js, raw = cl.request("POST", "/api/v1/auth/login",
                                    {"username": "admin", "password": password})
        check(st == 200 and isinstance(js, dict) and js.get("access_token")
              and js.get("token_type") == "Bearer",
              "login through the gateway: %d %s" % (st, raw[:120]))
        token = (js or {}).get("access_token")
        if token:
            st, h, js, raw = cl.request("GET", "/api/v1/users/me/profile",
                                        headers={"Authorization": "Bearer " + token})
            check(st == 200 and isinstance(js, dict) and js.get("username") == "admin",
                  "GET /api/v1/users/me/profile with the token: %d %s" % (st, raw[:120]))

        # --- c) TLS -------------------------------------------------------------
        with socket.create_connection(("127.0.0.1", tls_port), 5) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            s.settimeout(5)
            data = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                pass
        check(not data.startswith(b"HTTP/1.1 200") and b'"status":"ok"' not in data,
              "plain HTTP to the TLS port is refused (%r)" % data[:40])
        c = http.client.HTTPConnection("127.0.0.1", http_port, timeout=5)
        c.request("GET", "/health")
        r = c.getresponse()
        r.read()
        check(r.status == 301 and r.getheader("Location", "").startswith("https://"),
              "plain HTTP port only redirects to https (%d %s)" % (r.status,
                                                                  r.getheader("Location")))
        c.close()
        v, err = tls_handshake(tls_port, cert, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)
        check(v in ("TLSv1.2", "TLSv1.3"), "default handshake negotiates %s" % (v or err))
        v, err = tls_handshake(tls_port, cert, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2)
        check(v == "TLSv1.2", "TLS 1.2 accepted (%s)" % (v or err))
        v, err = tls_handshake(tls_port, cert, ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_3)
        check(v == "TLSv1.3", "TLS 1.3 accepted (%s)" % (v or err))
        if client_can_offer_tls11():
            v, err = tls_handshake(tls_port, cert, ssl.TLSVersion.TLSv1,
                                   ssl.TLSVersion.TLSv1_1, lower_seclevel=True)
            # The server's protocol_version alert, not a client-side refusal.
            check(v is None and "PROTOCOL_VERSION" in (err or "").upper(),
                  "TLS 1.0/1.1 refused by the server (%s)" % (v or err))
        else:
            print("note: this OpenSSL cannot offer TLS 1.1 as a client; not checked")

        # --- d) nginx's own errors --------------------------------------------
        ctx = ssl.create_default_context(cafile=cert)
        with socket.create_connection(("127.0.0.1", tls_port), 5) as raw_sock:
            with ctx.wrap_socket(raw_sock, server_hostname="localhost") as s:
                s.sendall(b"POST /api/v1/memory HTTP/1.1\r\nHost: localhost\r\n"
                          b"Content-Type: application/json\r\n"
                          b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (9 << 20))
                s.settimeout(10)
                data = b""
                try:
                    while True:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                except OSError:
                    pass
        head, _, body = data.partition(b"\r\n\r\n")
        try:
            js = json.loads(body)
        except ValueError:
            js = None
        check(head.startswith(b"HTTP/1.1 413") and is_error_shape(js, "INVALID_ARGUMENT"),
              "a 9 MiB body is refused by nginx with a JSON 413 (%r %r)" % (head[:20], body[:80]))

        # --- b) rate limit ------------------------------------------------------
        conn = http.client.HTTPSConnection("localhost", tls_port, context=cl.ctx, timeout=20)
        got = None
        statuses = []
        for _ in range(20):
            # An empty object: kos-server refuses it without hashing anything.
            st, h, js, raw = cl.request("POST", "/api/v1/auth/login", {}, conn=conn)
            statuses.append(st)
            if st == 429 and js and "gateway" in js.get("error", {}).get("message", ""):
                got = (st, h, js)
                break
        conn.close()
        check(got is not None and len(statuses) <= 10,
              "the gateway's auth zone (10/minute) refuses login #%d (statuses %s)"
              % (len(statuses) + 1, statuses))
        if got:
            st, h, js = got
            check(is_error_shape(js, "RESOURCE_EXHAUSTED"),
                  "the 429 body is kos-server's error shape: %s" % json.dumps(js))
            check(h.get("content-type", "").startswith("application/json"),
                  "the 429 is application/json")
            ra = h.get("retry-after", "")
            check(ra.isdigit() and int(ra) >= 1, "the 429 has Retry-After (%r)" % ra)
        st, h, js, _ = cl.request("GET", "/health")
        check(st == 200, "other zones still pass after the auth zone is exhausted (%d)" % st)
        st, h, js, _ = cl.request("GET", "/api/v1/auth/validate")
        check(st != 429, "/api/v1/auth/validate is in the api zone, not the auth zone (%d)" % st)

        # --- d) all replicas down ---------------------------------------------
        kos.stop()
        st, h, js, raw = cl.request("GET", "/api/v1/info")
        check(st == 503 and is_error_shape(js, "UNAVAILABLE") and "retry-after" in h,
              "with every replica down nginx answers a JSON 503 (%d %s)" % (st, raw[:100]))
        return 1 if failures else 0
    finally:
        for p in reversed(procs):
            p.stop(signal.SIGQUIT if p.name == "nginx" else signal.SIGTERM)
        if failures or os.environ.get("KOS_KEEP_TMP"):
            print("logs kept in %s" % tmp)
            for name in ("kos-server.log", "nginx.out", "nginx/error.log"):
                path = os.path.join(tmp, name)
                if os.path.exists(path):
                    with open(path, errors="replace") as f:
                        print("---- %s (tail)\n%s" % (name, "".join(f.readlines()[-15:])))
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main():
    # TLS 1.0/1.1 are deprecated in ssl; this test offers them on purpose.
    warnings.simplefilter("ignore", DeprecationWarning)
    ap = argparse.ArgumentParser()
    ap.add_argument("--kos-server", required=True)
    ap.add_argument("--source-dir", required=True)
    rc = run(ap.parse_args())
    if rc == 0:
        print("PASS: gateway")
    elif rc == 1:
        print("FAILED: %s" % "; ".join(failures) if failures else "FAILED")
    return rc


if __name__ == "__main__":
    sys.exit(main())
