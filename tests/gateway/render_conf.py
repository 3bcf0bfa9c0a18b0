#!/usr/bin/python3
"""Renders deploy/nginx.conf for an unprivileged local instance.

Every site-specific line of deploy/nginx.conf (ports, upstream servers,
certificate and file paths) is replaced; each must occur exactly once, so a
change to deploy/nginx.conf that this renderer does not know about fails
loudly instead of silently testing something else.

  render_conf.py --source deploy/nginx.conf --prefix DIR --tls-port 8443 \
      --http-port 8080 --upstream 127.0.0.1:9000 [--upstream ...] \
      --cert server.crt --key server.key > DIR/nginx.conf
  nginx -p DIR/ -c DIR/nginx.conf -g 'daemon off;'
"""
import argparse
import os
import pwd
import sys

UPSTREAM_LINE = "server 127.0.0.1:8080 max_fails=3 fail_timeout=10s;"


def render(text, prefix, tls_port, http_port, upstreams, cert, key,
           host="127.0.0.1", max_fails=3, fail_timeout="10s"):
    """Returns the rendered configuration; raises ValueError on drift."""
    prefix = prefix.rstrip("/")
    servers = "\n        ".join(
        "server %s max_fails=%d fail_timeout=%s;" % (u, max_fails, fail_timeout)
        for u in upstreams)
    subs = [
        ("worker_processes auto;", "worker_processes 1;"),
        ("pid /run/kos-nginx.pid;", "pid %s/nginx.pid;" % prefix),
        ("error_log /var/log/nginx/kos-error.log warn;",
         "error_log %s/error.log info;" % prefix),
        ("worker_connections 4096;", "worker_connections 256;"),
        ("access_log /var/log/nginx/kos-access.log kos_json;",
         "access_log %s/access.log kos_json;" % prefix),
        ("client_body_temp_path /var/lib/nginx/body;",
         "client_body_temp_path %s/body;" % prefix),
        ("proxy_temp_path /var/lib/nginx/proxy;", "proxy_temp_path %s/proxy;" % prefix),
        ("fastcgi_temp_path /var/lib/nginx/fastcgi;",
         "fastcgi_temp_path %s/fastcgi;" % prefix),
        ("uwsgi_temp_path /var/lib/nginx/uwsgi;", "uwsgi_temp_path %s/uwsgi;" % prefix),
        ("scgi_temp_path /var/lib/nginx/scgi;", "scgi_temp_path %s/scgi;" % prefix),
        (UPSTREAM_LINE, servers),
        ("listen 80;", "listen %s:%d;" % (host, http_port)),
        ("listen 443 ssl http2;", "listen %s:%d ssl http2;" % (host, tls_port)),
        ("ssl_certificate /etc/kos/tls/server.crt;", "ssl_certificate %s;" % cert),
        ("ssl_certificate_key /etc/kos/tls/server.key;", "ssl_certificate_key %s;" % key),
    ]
    for old, new in subs:
        n = text.count(old)
        if n != 1:
            raise ValueError("deploy/nginx.conf drifted: expected '%s' exactly once, found %d"
                             % (old, n))
        text = text.replace(old, new)
    if os.geteuid() == 0:
        # As root nginx would run its workers as `nobody`, who cannot enter a
        # private temporary prefix; keep them as the invoking user.
        user = pwd.getpwuid(os.getuid()).pw_name
        text = "user %s;\n" % user + text
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", required=True)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--tls-port", type=int, required=True)
    ap.add_argument("--http-port", type=int, required=True)
    ap.add_argument("--upstream", action="append", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    a = ap.parse_args()
    with open(a.source) as f:
        text = f.read()
    try:
        sys.stdout.write(render(text, os.path.abspath(a.prefix), a.tls_port, a.http_port,
                                a.upstream, os.path.abspath(a.cert), os.path.abspath(a.key)))
    except ValueError as e:
        print("render_conf.py: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
