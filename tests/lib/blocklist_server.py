#!/usr/bin/python3
"""blocklist_server.py - a blocklist host for gostream's tests, answering like GitHub's raw
file server: GET PATH serves the bytes of FILE with an ETag (hash of the bytes) and a
Last-Modified, 304 to a matching If-None-Match, 404 elsewhere.

  blocklist_server.py --file FILE --bind 127.0.0.1:0 --log LOG [--path /list.gz]
                      [--max-seconds S]

FILE is re-read on every request (the test swaps it with mv to change the list). Every
request is appended to LOG as "GET <path> inm=<If-None-Match or -> ims=<If-Modified-Since
or -> -> <status> <bytes>". Prints "READY <ip>:<port>" once listening.
"""
import argparse
import hashlib
import http.server
import os
import sys
import threading
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--file", required=True)
    ap.add_argument("--bind", default="127.0.0.1:0")
    ap.add_argument("--log", required=True)
    ap.add_argument("--path", default="/list.gz")
    ap.add_argument("--max-seconds", type=int, default=600)
    a = ap.parse_args()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def note(self, status, n):
            with open(a.log, "a") as f:
                f.write("GET %s inm=%s ims=%s -> %d %d\n" % (
                    self.path, self.headers.get("If-None-Match") or "-",
                    self.headers.get("If-Modified-Since") or "-", status, n))

        def do_GET(self):
            if self.path != a.path:
                body = b"not found\n"
                self.send_response(404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.note(404, len(body))
                return
            with open(a.file, "rb") as f:
                body = f.read()
            etag = '"%s"' % hashlib.sha1(body).hexdigest()
            mtime = os.stat(a.file).st_mtime
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                self.note(304, 0)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", self.date_time_string(mtime))
            self.end_headers()
            self.wfile.write(body)
            self.note(200, len(body))

    host, port = a.bind.rsplit(":", 1)
    srv = http.server.ThreadingHTTPServer((host, int(port)), Handler)
    srv.daemon_threads = True
    print("READY %s:%d" % (host, srv.server_address[1]), flush=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    deadline = time.time() + a.max_seconds
    try:
        while time.time() < deadline:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    srv.shutdown()
    return 0


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.exit(main())
