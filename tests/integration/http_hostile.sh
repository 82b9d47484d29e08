#!/usr/bin/env bash
# http_hostile.sh - the hostile-input corpus against the stream port: path traversal
# (.., %2e%2e, encoded / and \, NUL, overlong UTF-8, double encoding, absolute-form
# targets), huge and negative ranges, 1,000 and 10,000 ranges, header floods, a huge
# URL, garbage request lines, slowloris connections and a reader that never reads,
# oversized PROPFIND bodies (declared and chunked), XML bombs (billion laughs, external
# entities and DTDs, deep nesting). Each gets a 4xx or a closed connection, nothing
# outside the library is ever served, other clients are served meanwhile, and the
# daemon still answers and stops cleanly afterwards.
. "$TOP_SRCDIR/tests/lib/common.sh"
gs_need_swarm

mkdir -p "$T/data"
"$MKMEDIA" "$T/data/h.mkv" 4 || fail "mkmedia"
SRC="$T/data/h.mkv"
SIZE=$(stat -c %s "$SRC")
h=$(gs_make_torrent "$SRC" 256 "$T/h.torrent")
gs_seed 127.0.0.17 "$T/data" "$T/h.torrent"
gs_config "$T/c.json"
gs_start run --config "$T/c.json"
gs_wait_ready
PORT=$GS_STREAM_PORT
B="http://127.0.0.1:$PORT"
code=$(curl -s -o "$T/add.out" -w '%{http_code}' -X POST "http://127.0.0.1:$GS_API_PORT/torrents" \
	--data-binary "{\"action\":\"add\",\"link\":\"$T/h.torrent\",\"title\":\"Hostile (2010)\",\"category\":\"movie\",\"peers\":[\"$SEED_EP\"]}")
[ "$code" = 200 ] || fail "add: $code $(cat "$T/add.out")"
FILE="/movies/Hostile%20%282010%29.mkv"
code=$(curl -s -o /dev/null -w '%{http_code}' -r 0-0 "$B$FILE")
expect_eq "film served" "$code" 206

# refused WHAT CURL-ARGS... : a 4xx or a closed connection (000), never a secret.
refused() {
	local what=$1 c
	shift
	rm -f "$T/r.body"
	c=$(curl -s --max-time 15 -o "$T/r.body" -w '%{http_code}' "$@" 2> /dev/null)
	case "$c" in 4??|000) ;; *) fail "$what: status $c" ;; esac
	if [ -f "$T/r.body" ] && grep -aq 'root:' "$T/r.body"; then fail "$what: leaked a file"; fi
	ok
}
# raw WHAT BYTES-FILE: sends bytes as they are; the first status line must be 4xx or none.
raw() {
	local st
	st=$(timeout 15 "$PY" - "$PORT" "$2" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(open(sys.argv[2], "rb").read())
data = b""
try:
    while len(data) < 65536 and b"\r\n\r\n" not in data:
        b = s.recv(65536)
        if not b:
            break
        data += b
except (socket.timeout, ConnectionResetError):
    pass
if b"root:" in data:
    print("LEAK")
else:
    print(data.split(b"\r\n", 1)[0].decode("latin-1") or "closed")
EOF
)
	case "$st" in "HTTP/1.1 4"*|closed) ok ;; *) fail "$1: got '$st'" ;; esac
}

# Path traversal and encodings: never outside the library (which has no files at all:
# it is an in-memory tree), always 400 or 404.
for p in '/../../../../etc/passwd' '/movies/../../etc/passwd' '/%2e%2e/%2e%2e/etc/passwd' \
	 '/movies/..%2f..%2fetc%2fpasswd' '/movies%2f..%2f..%2fetc%2fpasswd' \
	 '/movies/%2e%2e%5c%2e%2e%5cetc%5cpasswd' '/movies/Hostile%20%282010%29.mkv%00.txt' \
	 '/%00' '/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd' '/%c0%af' '/movies%c0%afHostile.mkv' \
	 '/%e0%80%ae%e0%80%ae/etc/passwd' '/%ed%a0%80' '/%f4%90%80%80' '/%ff%fe' \
	 '/%252e%252e/%252e%252e/etc/passwd' '/movies/./Hostile%20%282010%29.mkv' \
	 '/stream/../../etc/passwd' "/stream/$h/0/../../../etc/passwd" '/movies/%0d%0aX:%20y'; do
	refused "GET $p" --path-as-is "$B$p"
	refused "PROPFIND $p" --path-as-is -X PROPFIND -H 'Depth: 0' "$B$p"
done
printf 'GET http://127.0.0.1/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n' > "$T/abs"
raw "absolute-form target" "$T/abs"
printf 'GET /etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' > "$T/etc"
raw "plain /etc/passwd" "$T/etc"

# Ranges: huge, negative, too many.
for r in "bytes=99999999999999999999999999-" "bytes=18446744073709551615-" \
	 "bytes=$SIZE-$((SIZE * 2))" "bytes=-0"; do
	c=$(curl -s -o /dev/null -w '%{http_code}' -H "Range: $r" "$B$FILE")
	expect_eq "Range '$r'" "$c" 416
done
for r in "bytes=-5-10" "bytes=-1-" "bytes=10-5" "bytes=0--1" "bytes=1e3-2e3"; do
	c=$(curl -s -o "$T/body" -w '%{http_code}' -H "Range: $r" "$B$FILE")
	expect_eq "invalid Range '$r' ignored" "$c" 200
	expect_eq "invalid Range '$r' length" "$(stat -c %s "$T/body")" "$SIZE"
done
R1K=$("$PY" -c 'print("bytes=" + ",".join("%d-%d" % (i * 10, i * 10 + 1) for i in range(1000)))')
c=$(curl -s -o /dev/null -w '%{http_code}' -H "Range: $R1K" "$B$FILE")
expect_eq "1,000 ranges" "$c" 416
R10K=$("$PY" -c 'print("bytes=" + ",".join("%d-%d" % (i * 10, i * 10 + 1) for i in range(10000)))')
refused "10,000 ranges" -H "Range: $R10K" "$B$FILE"

# Header floods and huge targets: libmicrohttpd's 32 KiB request buffer answers 431.
"$PY" -c '
import sys
h = "".join("X-Flood-%d: %s\r\n" % (i, "a" * 20) for i in range(5000))
sys.stdout.write("GET / HTTP/1.1\r\nHost: x\r\n" + h + "\r\n")' > "$T/flood"
raw "5,000 headers" "$T/flood"
"$PY" -c 'import sys; sys.stdout.write("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + "b" * 200000 + "\r\n\r\n")' > "$T/big"
raw "one 200 KB header" "$T/big"
"$PY" -c 'import sys; sys.stdout.write("GET /" + "a" * 100000 + " HTTP/1.1\r\nHost: x\r\n\r\n")' > "$T/url"
raw "100 KB URL" "$T/url"
printf 'GARBAGE\r\n\r\n' > "$T/g1"
raw "garbage request line" "$T/g1"
printf 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n' > "$T/g2"
raw "negative Content-Length" "$T/g2"
printf 'PROPFIND / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nDepth: 0\r\n\r\n0\r\n\r\n' > "$T/g3"
"$PY" - "$PORT" "$T/g3" <<'EOF' || fail "Content-Length + chunked"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(open(sys.argv[2], "rb").read())
line = s.recv(4096).split(b"\r\n", 1)[0]
# Either refused, or the body taken as chunked (RFC 9112 6.1): never a smuggled request.
assert line.startswith(b"HTTP/1.1 4") or line.startswith(b"HTTP/1.1 207") or line == b"", line
EOF
ok

# Oversized PROPFIND bodies: over the WebDAV cap, over the server cap (refused before it
# is read), and chunked without a length (connection closed at the cap).
head -c 100000 /dev/zero | tr '\0' ' ' > "$T/100k"
c=$(curl -s -o /dev/null -w '%{http_code}' -X PROPFIND -H 'Depth: 0' --data-binary @"$T/100k" "$B/")
expect_eq "100 KB PROPFIND" "$c" 413
head -c 3000000 /dev/zero | tr '\0' ' ' > "$T/3m"
refused "3 MB PROPFIND" -X PROPFIND -H 'Depth: 0' -H 'Expect:' --data-binary @"$T/3m" "$B/"
refused "3 MB chunked PROPFIND" -X PROPFIND -H 'Depth: 0' -H 'Transfer-Encoding: chunked' -H 'Expect:' \
	--data-binary @"$T/3m" "$B/"
refused "100 GB declared PUT" -X PUT -H 'Content-Length: 100000000000' -H 'Expect:' \
	--data-binary 'x' --max-time 5 "$B$FILE"

# XML bombs and external entities: refused at the DOCTYPE, instantly.
cat > "$T/laughs.xml" <<'EOF'
<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&lol9;</D:displayname></D:prop></D:propfind>
EOF
printf '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&e;</D:displayname></D:prop></D:propfind>' > "$T/xxe.xml"
printf '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY %% p SYSTEM "http://127.0.0.1:9/evil.dtd"> %%p;]><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>' > "$T/pe.xml"
printf '<?xml version="1.0"?><!DOCTYPE D:propfind SYSTEM "file:///etc/passwd"><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>' > "$T/dtd.xml"
"$PY" -c 'import sys; sys.stdout.write("<D:propfind xmlns:D=\"DAV:\"><D:prop>" + "<a>" * 8000 + "</a>" * 8000 + "</D:prop></D:propfind>")' > "$T/deep.xml"
"$PY" -c 'import sys; sys.stdout.write("<D:lockinfo xmlns:D=\"DAV:\">" + "<D:owner>" * 3000 + "</D:owner>" * 3000 + "</D:lockinfo>")' > "$T/deeplock.xml"
for x in laughs xxe pe dtd deep; do
	t0=$(date +%s%N)
	c=$(curl -s -o "$T/r.body" -w '%{http_code}' -X PROPFIND -H 'Depth: 0' --data-binary @"$T/$x.xml" "$B/")
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	expect_match "PROPFIND $x.xml" "$c" '^4(00|13)$'
	grep -aq 'root:' "$T/r.body" && fail "$x.xml leaked a file"
	[ "$ms" -lt 2000 ] || fail "$x.xml took ${ms} ms"; ok
done
c=$(curl -s -o /dev/null -w '%{http_code}' -X LOCK --data-binary @"$T/deeplock.xml" "$B$FILE")
expect_match "LOCK with a deep body" "$c" '^4(00|13)$'
c=$(curl -s -o /dev/null -w '%{http_code}' -X LOCK --data-binary @"$T/xxe.xml" "$B$FILE")
expect_eq "LOCK with an external entity" "$c" 400

# Slowloris: 150 connections dribbling a header a byte at a time, plus a client that
# asks for the whole film and never reads. Others are served meanwhile.
"$PY" - "$PORT" 150 > "$T/slow.out" 2>&1 <<'EOF' &
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    socks.append(s)
stuck = socket.create_connection(("127.0.0.1", port))
stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
stuck.sendall(b"GET /movies/Hostile%20%282010%29.mkv HTTP/1.1\r\nHost: x\r\n\r\n")
print("open", flush=True)
for t in range(12):
    for s in socks:
        try:
            s.sendall(b"X")
        except OSError:
            pass
    time.sleep(0.5)
EOF
SLOW=$!
GS_PIDS+=("$SLOW")
for ((i = 0; i < 100; i++)); do grep -q open "$T/slow.out" && break; sleep 0.05; done
grep -q open "$T/slow.out" || fail "slowloris clients did not start: $(cat "$T/slow.out")"
t0=$(date +%s%N)
for i in 1 2 3 4 5; do
	c=$(curl -s --max-time 5 -o "$T/part" -w '%{http_code}' -r "$((i * 1000))-$((i * 1000 + 999))" "$B$FILE")
	expect_eq "served during slowloris ($i)" "$c" 206
	c=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' -X PROPFIND -H 'Depth: 1' "$B/movies/")
	expect_eq "PROPFIND during slowloris ($i)" "$c" 207
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
note "10 requests alongside 150 slowloris connections and a stuck reader: ${ms} ms"
[ "$ms" -lt 5000 ] || fail "starved by slow clients (${ms} ms)"; ok
kill "$SLOW" 2> /dev/null
wait "$SLOW" 2> /dev/null

# Still serving, and still the right bytes.
c=$(curl -s -o "$T/part" -w '%{http_code}' -r 100-199 "$B$FILE")
expect_eq "still serving" "$c" 206
"$PY" -c 'import sys; f=open(sys.argv[1],"rb"); f.seek(100); sys.stdout.buffer.write(f.read(100))' "$SRC" > "$T/want"
cmp -s "$T/part" "$T/want" || fail "bytes differ after the corpus"; ok
kill -0 "$GS_PID" || fail "the daemon died"
gs_stop
note "$checks checks"
echo "PASS: http_hostile"
