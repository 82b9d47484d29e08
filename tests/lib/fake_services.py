#!/usr/bin/env python3
"""fake_services.py - TMDB, Torrentio, the Plex watchlist service, a Plex server and a
BitTorrent HTTP tracker on one loopback port, for the discovery tests.

Answers are shaped like the real services' documented ones and come from fixture files
(tests/fixtures/discovery) with ${VAR} replaced from the scenario's "vars". The scenario
(JSON, re-read whenever the file changes) maps a route to an answer:
  "routes": {"tmdb:/movie/popular": {"file": "x.json"},
             "torrentio:/stream/movie/tt1.json": {"status": 429, "times": 2, "then": {...}},
             "tmdb:/movie/9/external_ids": {"html": true, "status": 502},
             "torrentio:/stream/movie/tt2.json": {"body": "{not json"},
             "torrentio:/stream/movie/tt3.json": {"delay": 5, "file": "y.json"}}
Route keys: tmdb:<path after /tmdb/3>, torrentio:/stream/<type>/<id>.json (the options
segment dropped), plexwatch:<path after /discover>, plex:<path after /plex>. TMDB checks
api_key (or a Bearer token) against "tmdb_key", Plex the X-Plex-Token header against
"plex_token", answering 401 like the real ones. Unmatched: TMDB and Plex 404 with their
error JSON, Torrentio {"streams": []}, a Plex refresh 200. /announce returns "peers";
/tmdbimg/t/p/wNNN/pNNN.jpg answers a small PNG poster (TMDB's image server).
Every request is appended to --log as one JSON line (service, key, query, status, t).
"""
import argparse, json, os, re, socket, string, sys, threading, time, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = None
LOCK = threading.Lock()
STATE = {"mtime": None, "scn": {}, "counts": {}}

def scenario():
    with LOCK:
        try:
            m = os.stat(ARGS.scenario).st_mtime_ns
        except FileNotFoundError:
            return {}
        if m != STATE["mtime"]:
            with open(ARGS.scenario) as f:
                STATE["scn"] = json.load(f)
            STATE["mtime"] = m
            STATE["counts"] = {}
        return STATE["scn"]

def poster_png(name, w=20, h=30):
    """A w x h PNG in a colour derived from name (zlib/struct only)."""
    import struct, zlib
    rgb = bytes((zlib.crc32(name.encode()) >> s) & 255 | 64 for s in (0, 8, 16))
    raw = b"".join(b"\0" + rgb * w for _ in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

def count(key):
    with LOCK:
        STATE["counts"][key] = STATE["counts"].get(key, 0) + 1
        return STATE["counts"][key]

def bencode(x):
    if isinstance(x, int):
        return b"i%de" % x
    if isinstance(x, bytes):
        return b"%d:%s" % (len(x), x)
    if isinstance(x, str):
        return bencode(x.encode())
    if isinstance(x, dict):
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in sorted(x.items())) + b"e"
    raise TypeError(x)

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send(self, status, body, ctype="application/json", headers=None):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def record(self, service, key, query, status):
        line = json.dumps({"t": time.time(), "service": service, "key": key,
                           "query": query, "status": status,
                           "token": self.headers.get("X-Plex-Token")})
        with LOCK:
            with open(ARGS.log, "a") as f:
                f.write(line + "\n")

    def do_GET(self):
        scn = scenario()
        u = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(u.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(u.query).items()}
        if path == "/announce":
            peers = b""
            for ep in scn.get("peers", []):
                ip, port = ep.rsplit(":", 1)
                peers += socket.inet_aton(ip) + int(port).to_bytes(2, "big")
            self.record("tracker", "announce", {}, 200)
            return self.send(200, bencode({"interval": 30, "peers": peers}), "text/plain")
        m = re.fullmatch(r"/tmdbimg/t/p/w\d+/(p\d+)\.jpg", path)
        if path.startswith("/tmdbimg/"):
            # TMDB's image server (image.tmdb.org/t/p/<size>/<poster_path>): a small
            # poster (a PNG, which browsers take whatever the name) for any pNNN.jpg.
            self.record("tmdbimg", "tmdbimg:" + path[len("/tmdbimg"):], query, 200 if m else 404)
            return self.send(200, poster_png(m.group(1)), "image/png") if m else \
                self.send(404, "Not Found", "text/plain")
        if path.startswith("/tmdb/3/"):
            service, key = "tmdb", "tmdb:" + path[len("/tmdb/3"):]
            auth = self.headers.get("Authorization", "")
            ok = query.pop("api_key", None) == scn.get("tmdb_key") or \
                auth == "Bearer %s" % scn.get("tmdb_key")
            if not ok:
                self.record(service, key, query, 401)
                return self.send(401, json.dumps({"status_code": 7, "status_message":
                    "Invalid API key: You must be granted a valid key.", "success": False}))
        elif path.startswith("/torrentio/"):
            m = re.match(r"^/torrentio/(?:[^/]*/)?(stream/.*)$", path)
            service, key = "torrentio", "torrentio:/" + (m.group(1) if m else path)
            query = {"options": path.split("/")[2]}
        elif path.startswith("/discover/"):
            service, key = "plexwatch", "plexwatch:" + path[len("/discover"):]
        elif path.startswith("/plex/"):
            service, key = "plex", "plex:" + path[len("/plex"):]
        else:
            self.record("unknown", path, query, 404)
            return self.send(404, "no such service", "text/plain")
        if service.startswith("plex") and self.headers.get("X-Plex-Token") != scn.get("plex_token"):
            self.record(service, key, query, 401)
            return self.send(401, "<html><head><title>Unauthorized</title></head><body>"
                             "<h1>401 Unauthorized</h1></body></html>", "text/html")
        route = scn.get("routes", {}).get(key)
        n = count(key)
        while route and "times" in route and n > route["times"]:
            n -= route["times"]
            route = route.get("then")
        if route is None:
            if service == "torrentio":
                route = {"body": '{"streams":[],"cacheMaxAge":3600}'}
            elif key.endswith("/refresh"):
                route = {"body": ""}
            elif service == "tmdb":
                route = {"status": 404, "body": json.dumps({"status_code": 34,
                    "status_message": "The resource you requested could not be found.",
                    "success": False})}
            else:
                route = {"status": 404, "body": '{"error":"not found"}'}
        if route.get("delay"):
            time.sleep(route["delay"])
        status = route.get("status", 200)
        headers = {}
        if status == 429:
            headers["Retry-After"] = str(route.get("retry_after", 1))
        if route.get("html"):
            body, ctype = ("<!DOCTYPE html><html><head><title>%d</title></head><body>"
                           "<h1>Bad gateway</h1><p>cloudflare</p></body></html>" % status,
                           "text/html; charset=UTF-8")
        elif "file" in route:
            with open(os.path.join(ARGS.fixtures, route["file"]), encoding="utf-8") as f:
                body = string.Template(f.read()).safe_substitute(scn.get("vars", {}))
            ctype = "application/json"
        else:
            body, ctype = route.get("body", ""), route.get("ctype", "application/json")
        self.record(service, key, query, status)
        try:
            self.send(status, body, ctype, headers)
        except (BrokenPipeError, ConnectionResetError):
            pass

def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--max-seconds", type=int, default=600)
    ARGS = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    with open(ARGS.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(ARGS.port_file + ".tmp", ARGS.port_file)
    threading.Timer(ARGS.max_seconds, lambda: os._exit(0)).start()
    srv.serve_forever()

if __name__ == "__main__":
    main()
