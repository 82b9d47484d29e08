#!/usr/bin/env bash
# api_fuzz.sh - garbage on every POST route of the real daemon: random bytes, broken and
# hostile JSON (deep nesting, huge strings, NUL escapes, wrong types for every field of
# every action), broken multipart bodies for /torrent/upload, and malformed HTTP on a raw
# socket. Every answer of /torrents, /settings and /torrent/upload must be a 4xx with a
# JSON reason (or 200 where the garbage happens to be valid); /plex-webhook must answer
# at all; the daemon must answer /health and /echo after every batch, change no setting,
# and stop cleanly without a sanitizer report. Deterministic (fixed seed), bounded.
. "$TOP_SRCDIR/tests/lib/common.sh"

gs_config "$T/c.json" '"api_token": "fz-token"'
gs_start run --config "$T/c.json"
gs_wait_ready
before=$(curl -sf -H 'Authorization: Bearer fz-token' -X POST "http://127.0.0.1:$GS_API_PORT/settings" -d '{"action":"get"}')

cat > "$T/fuzz.py" <<'PYEOF'
import http.client, json, random, socket, sys, time

api, metrics = int(sys.argv[1]), int(sys.argv[2])
TOKEN = {"Authorization": "Bearer fz-token"}
rnd = random.Random(20260704)
fails = []

def post(port, path, body, ctype="application/json", extra=None):
    h = dict(TOKEN)
    if ctype:
        h["Content-Type"] = ctype
    if extra:
        h.update(extra)
    for attempt in range(2):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        try:
            c.request("POST", path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return r.status, data
        except (ConnectionResetError, BrokenPipeError):
            if attempt:
                raise
        finally:
            c.close()

def alive():
    for port, path in ((metrics, "/health"), (api, "/echo")):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", path)
        r = c.getresponse(); r.read(); c.close()
        if r.status != 200:
            fails.append("%s answered %d after the batch" % (path, r.status))

def junk_bytes():
    return bytes(rnd.getrandbits(8) for _ in range(rnd.choice([0, 1, 7, 100, 4096])))

def junk_value(depth=0):
    k = rnd.randrange(10)
    if k == 0: return None
    if k == 1: return rnd.choice([True, False])
    if k == 2: return rnd.choice([0, -1, 1.5, 1e300, -1e300, 2**63, 1e-300])
    if k == 3: return "".join(chr(rnd.randrange(1, 0x2ff)) for _ in range(rnd.randrange(0, 40)))
    if k == 4: return "x" * rnd.choice([0, 5000, 100000])
    if k == 5: return "\u0000nul\u0000"
    if k == 6 and depth < 3: return [junk_value(depth + 1) for _ in range(rnd.randrange(0, 5))]
    if k == 7 and depth < 3: return {junk_key(): junk_value(depth + 1) for _ in range(rnd.randrange(0, 5))}
    if k == 8: return "/nonexistent/" + "".join(rnd.choice("abc.%/ ") for _ in range(20))
    return rnd.choice(["", "magnet:?xt=urn:btih:zz", "magnet:", "http://127.0.0.1:1/x.torrent",
                       "ZZZZ" * 10, "tt", "tt12", "0" * 39, "movie", "tv"])

def junk_key():
    return rnd.choice(["action", "link", "hash", "title", "category", "poster", "data", "imdb",
                       "files", "peers", "sets", "", "\u0000", "a" * 300, "ünï"])

def junk_link():
    # Never a valid info-hash or a reachable URL: an add must fail fast, not fetch.
    return rnd.choice(["", "x", "magnet:?xt=urn:btih:zz", "magnet:", "http://127.0.0.1:1/x.torrent",
                       "/nonexistent/" + str(rnd.randrange(10**9)), "ftp://x", "  ", 7, None, [], {}])

def json_bodies(actions, extra_keys):
    out = []
    for _ in range(120):
        o = {}
        if rnd.random() < 0.9:
            o["action"] = rnd.choice(actions + [junk_value()])
        for _ in range(rnd.randrange(0, 4)):
            k = rnd.choice(extra_keys)
            o[k] = junk_link() if k == "link" else junk_value()
        out.append(json.dumps(o).encode())
    out += [b"", b"{", b"}", b"[]", b"null", b"\"action\"", b"{\"action\":\"list\"", b"\xff\xfe\x00",
            b"[" * 100000 + b"]" * 100000, b"{\"a\":" * 5000 + b"1" + b"}" * 5000,
            b"{\"action\":\"get\",\"hash\":\"\\ud800\"}", b"{\"action\":\"set\",\"hash\":" + b"9" * 5000 + b"}",
            b"{\"action\":\"list\"} trailing", b"{\"action\":\"list\",\"action\":\"wipe\"}"]
    out += [junk_bytes() for _ in range(20)]
    return out

def check(route, status, data, want_json=True):
    if status >= 500:
        fails.append("%s answered %d to garbage: %r" % (route, status, data[:200]))
    elif status >= 400 and want_json:
        try:
            if "error" not in json.loads(data):
                fails.append("%s %d without an error reason" % (route, status))
        except ValueError:
            fails.append("%s %d with a body that is not JSON: %r" % (route, status, data[:100]))

# /torrents: every action, junk fields (add never gets a fetchable link).
acts = ["add", "get", "set", "rem", "drop", "list", "active", "wipe"]
for b in json_bodies(acts, ["link", "hash", "title", "category", "poster", "data", "imdb", "files", "peers"]):
    s, d = post(api, "/torrents", b)
    check("/torrents", s, d)
alive()

# /settings: only invalid values for real names, or names that are not settings, so a
# fuzzed body never turns DHT or UPnP on.
names = ["CacheSize", "ReaderReadAHead", "UseDisk", "DisableDHT", "DisableUPNP", "PeersListenPort",
         "ConnectionsLimit", "ResponsiveMode", "EnableIPv6", "DownloadRateLimit"]
bools = {"UseDisk", "DisableDHT", "DisableUPNP", "ResponsiveMode", "EnableIPv6"}
bodies = json_bodies(["get", "set", "def"], ["sets", "action"])
for _ in range(120):
    sets = {}
    for _ in range(rnd.randrange(1, 5)):
        n = rnd.choice(names + ["Nope", "", "\u0000"])
        bad = rnd.choice(["1", None, [], {}, 1.5, -5, 1e300]) if n in bools or n in ("Nope", "", "\u0000") \
            else rnd.choice(["1", True, None, [], {}, 1.5, -5, 1e300, 2**70])
        sets[n] = bad
    if all(k in ("Nope", "", "\u0000") for k in sets):
        sets["CacheSize"] = "not a number"
    bodies.append(json.dumps({"action": "set", "sets": sets}).encode())
for b in bodies:
    if b'"def"' in b:
        continue        # def is harmless but would hide a change made by garbage
    s, d = post(api, "/settings", b)
    check("/settings", s, d)
alive()

# /torrent/upload: broken multipart.
def mp(parts, boundary="BoUnDaRy"):
    out = b""
    for headers, body in parts:
        out += b"--" + boundary.encode() + b"\r\n" + headers + b"\r\n\r\n" + body + b"\r\n"
    return out + b"--" + boundary.encode() + b"--\r\n"
cd = lambda name, fn=None: b'Content-Disposition: form-data; name="' + name + b'"' + (b'; filename="' + fn + b'"' if fn else b"")
uploads = []
for _ in range(100):
    k = rnd.randrange(8)
    if k == 0:
        uploads.append((mp([(cd(b"file", b"a.torrent"), junk_bytes())]), None))
    elif k == 1:
        uploads.append((mp([(cd(b"file", b"a.torrent"), b"d4:infod6:lengthi-5e4:name1:x12:piece lengthi0e6:pieces0:ee")]), None))
    elif k == 2:
        uploads.append((mp([(cd(b"title"), junk_bytes()), (cd(b"file", b"x"), b"d8:announce3:abce")]), None))
    elif k == 3:
        uploads.append((mp([(b"X-Nothing: 1", junk_bytes())]), None))
    elif k == 4:
        full = mp([(cd(b"file", b"a.torrent"), junk_bytes())])
        uploads.append((full[:rnd.randrange(0, max(1, len(full)))], None))
    elif k == 5:
        uploads.append((junk_bytes(), "multipart/form-data; boundary=" + "".join(rnd.choice("ab-_'\"") for _ in range(rnd.randrange(0, 80)))))
    elif k == 6:
        uploads.append((mp([(cd(b"peers"), b"1.2.3.4:5, nonsense"), (cd(b"file", b"a"), b"de")]), None))
    else:
        uploads.append((mp([(cd(b"a" * 3000, b"b" * 3000), b"x")]), None))
uploads += [(b"", "multipart/form-data"), (b"--x\r\n", "multipart/form-data; boundary=x"),
            (b"a=b&c", "application/x-www-form-urlencoded"), (junk_bytes(), "text/plain"), (b"x", None)]
for body, ctype in uploads:
    s, d = post(api, "/torrent/upload", body, ctype or "multipart/form-data; boundary=BoUnDaRy")
    check("/torrent/upload", s, d)
alive()

# /plex-webhook (another module's route): it must answer, whatever it answers.
hooks = json_bodies(["media.play", "media.stop"], ["event", "Metadata", "Account"])[:60]
for b in hooks:
    s, d = post(metrics, "/plex-webhook", b)
    if s >= 500:
        print("# note: /plex-webhook answered %d to garbage" % s, file=sys.stderr)
for body, ctype in uploads[:40]:
    s, d = post(metrics, "/plex-webhook", body, ctype or "multipart/form-data; boundary=BoUnDaRy")
alive()

# Malformed HTTP on raw sockets.
raw = [b"POST /torrents HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
       b"POST /torrents HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nAuthorization: Bearer fz-token\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
       b"POST /settings HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nAuthorization: Bearer fz-token\r\n\r\nshort",
       b"POST /torrent/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + b"A" * 20000 + b"\r\n\r\n",
       b"\x00\x01\x02 garbage \r\n\r\n", b"POST / HTTP/9.9\r\n\r\n", b"POST " + b"/" * 70000 + b" HTTP/1.1\r\n\r\n"]
for r in raw:
    s = socket.create_connection(("127.0.0.1", api), timeout=5)
    try:
        s.sendall(r)
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
    except OSError:
        pass
    finally:
        s.close()
alive()

if fails:
    print("\n".join(fails[:20]))
    sys.exit(1)
print("ok", len(bodies) + len(uploads) + 120 + len(hooks))
PYEOF
out=$("$PY" "$T/fuzz.py" "$GS_API_PORT" "$GS_METRICS_PORT") || fail "fuzz: $out"
note "fuzz: $out"
ok
after=$(curl -sf -H 'Authorization: Bearer fz-token' -X POST "http://127.0.0.1:$GS_API_PORT/settings" -d '{"action":"get"}')
expect_eq "garbage changed no setting" "$after" "$before"
[ -e "$T/state/settings.json" ] && fail "garbage wrote settings.json"; ok
gs_stop TERM 5
note "$checks checks"
