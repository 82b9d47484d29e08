#!/usr/bin/env bash
# http_range.sh - HTTP range streaming on the stream port with curl, against the real
# daemon, engine and a loopback seeder: HEAD, the whole file, every Range form (a-b, a-,
# -n, clamped, across pieces, multiple ranges as multipart/byteranges, merged overlaps,
# invalid ones ignored), 416, conditional requests (304, 412, If-Range), the
# /stream/<hash>/<index> alias, directory indexes (HTML and JSON), keep-alive reuse,
# write methods refused; then a torrent nobody seeds: a client that hangs up cancels its
# pending read at once, a read the swarm cannot serve ends in 504 after ReadTimeout, and
# SIGTERM stops the daemon promptly while a read is still blocked.
. "$TOP_SRCDIR/tests/lib/common.sh"
gs_need_swarm
command -v curl > /dev/null || skip_missing "curl missing"

mkdir -p "$T/data" "$T/dead"
"$MKMEDIA" "$T/data/film.mkv" 24 || fail "mkmedia"
SRC="$T/data/film.mkv"
SIZE=$(stat -c %s "$SRC")
h=$(gs_make_torrent "$SRC" 1024 "$T/film.torrent")
# Same bytes, another name: another info-hash that nobody seeds.
ln "$SRC" "$T/dead/other.mkv"
hd=$(gs_make_torrent "$T/dead/other.mkv" 1024 "$T/dead.torrent" "Dead.Film.2019.mkv")
gs_seed 127.0.0.11 "$T/data" "$T/film.torrent"

gs_config "$T/c.json" '"log_level": "debug"' '"engine": { "ReadTimeoutSeconds": 6 }'
gs_start run --config "$T/c.json"
gs_wait_ready
API="http://127.0.0.1:$GS_API_PORT/torrents"
B="http://127.0.0.1:$GS_STREAM_PORT"
add() {
	local code
	code=$(curl -s -o "$T/add.out" -w '%{http_code}' -X POST "$API" --data-binary "$1")
	[ "$code" = 200 ] || fail "add: $code $(cat "$T/add.out")"
}
add "{\"action\":\"add\",\"link\":\"$T/film.torrent\",\"title\":\"Range Test (2020)\",\"category\":\"movie\",\"peers\":[\"$SEED_EP\"]}"
add "{\"action\":\"add\",\"link\":\"$T/dead.torrent\",\"title\":\"Dead Film (2019)\",\"category\":\"movie\",\"peers\":[\"127.0.0.12:9\"]}"

# href_of HASH: the href the JSON index of /movies/ gives the file of that torrent.
href_of() {
	local i j
	for ((i = 0; i < 100; i++)); do
		j=$(curl -sf -H 'Accept: application/json' "$B/movies/") &&
		printf '%s' "$j" | "$PY" -c '
import json, sys
for e in json.load(sys.stdin)["entries"]:
    if e.get("hash") == sys.argv[1]:
        print(e["href"]); sys.exit(0)
sys.exit(1)' "$1" && return 0
		sleep 0.1
	done
	fail "torrent $1 not listed under /movies/"
}
HREF=$(href_of "$h") || exit 1
DEAD=$(href_of "$hd") || exit 1
U="$B$HREF"
note "file at $HREF ($SIZE bytes)"

# slice OFF LEN OUT: the source's bytes
slice() { "$PY" -c 'import sys; f=open(sys.argv[1],"rb"); f.seek(int(sys.argv[2])); sys.stdout.buffer.write(f.read(int(sys.argv[3])))' "$SRC" "$2" "$3" > "$4"; }
# get ARGS... : curl into $T/body and $T/hdr; sets $code
get() { rm -f "$T/body"; code=$(curl -s -D "$T/hdr" -o "$T/body" -w '%{http_code}' "$@"); touch "$T/body"; }
hdr() { tr -d '\r' < "$T/hdr" | awk -v k="$(echo "$1" | tr 'A-Z' 'a-z')" -F': ' 'tolower($1)==k{print $2}' | tail -n1; }

# HEAD: headers of the whole file, no body.
get -I "$U"
expect_eq "HEAD status" "$code" 200
expect_eq "HEAD Content-Length" "$(hdr Content-Length)" "$SIZE"
expect_eq "HEAD Accept-Ranges" "$(hdr Accept-Ranges)" bytes
expect_eq "HEAD Content-Type" "$(hdr Content-Type)" video/x-matroska
ETAG=$(hdr ETag)
LM=$(hdr Last-Modified)
expect_match "strong ETag" "$ETAG" '^"[0-9a-f]{40}-0-[0-9]+"$'
expect_match "Last-Modified" "$LM" '^[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} GMT$'
get -I -r 0-99 "$U"
expect_eq "HEAD ignores Range (RFC 9110 14.2)" "$code" 200

# The whole file.
t0=$(date +%s%N)
get "$U"
expect_eq "GET status" "$code" 200
cmp -s "$T/body" "$SRC" || fail "whole file differs"; ok
note "whole file (cold) in $(( ($(date +%s%N) - t0) / 1000000 )) ms"

# Every single-range form: status, Content-Range, Content-Length and bytes.
check_range() {   # SPEC FIRST LAST
	get -H "Range: bytes=$1" "$U"
	expect_eq "status for $1" "$code" 206
	expect_eq "Content-Range for $1" "$(hdr Content-Range)" "bytes $2-$3/$SIZE"
	expect_eq "Content-Length for $1" "$(hdr Content-Length)" "$(($3 - $2 + 1))"
	slice "$SRC" "$2" "$(($3 - $2 + 1))" "$T/want"
	cmp -s "$T/body" "$T/want" || fail "bytes differ for $1"; ok
}
check_range 0-0 0 0
check_range 0-99 0 99
check_range 1048000-1049999 1048000 1049999            # across a piece boundary
check_range "$((SIZE - 1))-" $((SIZE - 1)) $((SIZE - 1))
check_range "$((SIZE - 5000))-" $((SIZE - 5000)) $((SIZE - 1))
check_range -1 $((SIZE - 1)) $((SIZE - 1))
check_range -70000 $((SIZE - 70000)) $((SIZE - 1))
check_range "-$((SIZE * 4))" 0 $((SIZE - 1))          # longer suffix: the whole file
check_range "$((SIZE - 10))-99999999999999999999" $((SIZE - 10)) $((SIZE - 1))
check_range "5000000-5000099, 5000050-5000199" 5000000 5000199   # overlap merged

# Two ranges: multipart/byteranges, parsed and checked part by part.
get -H "Range: bytes=100-199,$((SIZE - 100))-" "$U"
expect_eq "multi-range status" "$code" 206
expect_match "multipart type" "$(hdr Content-Type)" '^multipart/byteranges; boundary=[0-9a-f]+$'
expect_eq "multipart Content-Length" "$(hdr Content-Length)" "$(stat -c %s "$T/body")"
"$PY" - "$T/body" "$(hdr Content-Type)" "$SRC" "$SIZE" <<'EOF' || fail "multipart body wrong"
import sys
body, ctype, src, size = open(sys.argv[1], "rb").read(), sys.argv[2], sys.argv[3], int(sys.argv[4])
data = open(src, "rb").read()
b = ctype.split("boundary=")[1].encode()
parts = body.split(b"--" + b)
assert parts[0] == b"\r\n", parts[0]
assert parts[-1] == b"--\r\n", parts[-1]
want = [(100, 199), (size - 100, size - 1)]
got = []
for p in parts[1:-1]:
    head, payload = p.split(b"\r\n\r\n", 1)
    assert payload.endswith(b"\r\n")
    payload = payload[:-2]
    hdrs = dict(l.split(b": ", 1) for l in head.strip().split(b"\r\n"))
    assert hdrs[b"Content-Type"] == b"video/x-matroska"
    rng = hdrs[b"Content-Range"].decode()
    a, z = map(int, rng.split()[1].split("/")[0].split("-"))
    assert rng.endswith("/%d" % size)
    assert payload == data[a:z + 1], rng
    got.append((a, z))
assert got == want, got
EOF
ok

# Invalid Range headers are ignored: 200 and the whole file (RFC 9110 14.2).
for bad in "bytes=5-4" "bytes=abc" "items=0-5" "bytes=--3" "bytes=1-2;3"; do
	get -H "Range: $bad" "$U"
	expect_eq "ignored Range '$bad'" "$code" 200
	expect_eq "ignored Range '$bad' length" "$(stat -c %s "$T/body")" "$SIZE"
done

# Unsatisfiable: 416 with bytes */size.
for uns in "bytes=$SIZE-" "bytes=$((SIZE + 10))-$((SIZE + 20))" "bytes=-0" \
	   "bytes=$(seq -s, 0 16 | sed 's/\([0-9]*\)/\1-\1/g')"; do
	get -H "Range: $uns" "$U"
	expect_eq "416 for '${uns:0:40}'" "$code" 416
	expect_eq "416 Content-Range" "$(hdr Content-Range)" "bytes */$SIZE"
done

# Conditional requests.
get -H "If-None-Match: $ETAG" "$U"
expect_eq "If-None-Match match" "$code" 304
expect_eq "304 has no body" "$(stat -c %s "$T/body")" 0
expect_eq "304 ETag" "$(hdr ETag)" "$ETAG"
get -H "If-None-Match: \"other\", W/$ETAG" -r 0-9 "$U"
expect_eq "If-None-Match weak match" "$code" 304
get -H 'If-None-Match: "other"' -r 0-9 "$U"
expect_eq "If-None-Match other" "$code" 206
get -H "If-Modified-Since: $LM" -r 0-9 "$U"
expect_eq "If-Modified-Since = Last-Modified" "$code" 304
get -H "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT" -r 0-9 "$U"
expect_eq "If-Modified-Since old" "$code" 206
get -H 'If-Match: "other"' -r 0-9 "$U"
expect_eq "If-Match other" "$code" 412
get -H "If-Match: $ETAG" -r 0-9 "$U"
expect_eq "If-Match current" "$code" 206
get -H "If-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT" -r 0-9 "$U"
expect_eq "If-Unmodified-Since old" "$code" 412
get -H "If-Range: $ETAG" -r 10-19 "$U"
expect_eq "If-Range current tag" "$code" 206
get -H "If-Range: $LM" -r 10-19 "$U"
expect_eq "If-Range = Last-Modified" "$code" 206
get -H 'If-Range: "stale"' -r 10-19 "$U"
expect_eq "If-Range stale tag: whole file" "$code" 200
expect_eq "If-Range stale length" "$(stat -c %s "$T/body")" "$SIZE"
get -H "If-Range: W/$ETAG" -r 10-19 "$U"
expect_eq "If-Range weak tag: whole file" "$code" 200

# The stable alias, with and without a trailing file name.
get -r 0-99 "$B/stream/$h/0"
expect_eq "alias status" "$code" 206
expect_eq "alias ETag" "$(hdr ETag)" "$ETAG"
slice "$SRC" 0 100 "$T/want"
cmp -s "$T/body" "$T/want" || fail "alias bytes differ"; ok
get -r 0-99 "$B/stream/${h^^}/0/film.mkv"
expect_eq "alias upper-case hash + name" "$code" 206
get -I "$B/stream/$h/1"
expect_eq "alias unknown index" "$code" 404
get -I "$B/stream/$h"
expect_eq "alias without index" "$code" 400
get -I "$B/movies/nothing%20here.mkv"
expect_eq "unknown file" "$code" 404
get -I "$U/"
expect_eq "file with a trailing slash" "$code" 404

# Directory indexes.
get "$B/"
expect_eq "root index" "$code" 200
expect_match "root index type" "$(hdr Content-Type)" '^text/html'
expect_match "root links movies" "$(cat "$T/body")" 'href="/movies/"'
get "$B/movies/"
expect_match "movies index links the file" "$(cat "$T/body")" "href=\"$HREF\""
expect_match "movies index shows the size" "$(cat "$T/body")" "<td>$SIZE</td>"
get -H 'Accept: application/json' "$B/movies"
expect_eq "JSON index" "$code" 200
expect_eq "JSON type" "$(hdr Content-Type)" application/json
expect_match "JSON entry" "$(cat "$T/body")" "\"href\":\"$HREF\",\"type\":\"file\",\"size\":$SIZE"

# Keep-alive: several requests on one connection, all right.
curl -s -o "$T/k1" -r 0-999 "$U" -o "$T/k2" -r 2000-2999 "$U" -o "$T/k3" "$B/" || fail "keep-alive run"
slice "$SRC" 2000 1000 "$T/want"
cmp -s "$T/k2" "$T/want" || fail "second request on a kept-alive connection"; ok

# Writes are refused with a reason; unknown methods get 405.
get -X PUT --data-binary "x" "$U"
expect_eq "PUT" "$code" 403
expect_match "PUT reason" "$(cat "$T/body")" 'read-only'
get -X DELETE "$U"
expect_eq "DELETE" "$code" 403
get -X POST --data-binary "x" "$U"
expect_eq "POST" "$code" 405
expect_match "405 Allow" "$(hdr Allow)" 'PROPFIND'

# A torrent nobody seeds. A client hanging up ends the pending read at once.
t0=$(date +%s%N)
curl -s -o /dev/null --max-time 1 -r 0-99 "$B$DEAD"
for ((i = 0; i < 40; i++)); do
	grep -q "client gone" "$T/gs.log" && break
	sleep 0.05
done
grep -q "client gone" "$T/gs.log" || fail "hang-up did not cancel the pending read"; ok
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
note "hang-up to cancelled read: ${ms} ms after a 1000 ms client timeout (ReadTimeout 6 s)"
[ "$ms" -lt 3000 ] || fail "cancellation took ${ms} ms"; ok

# Not cancelled: the stream layer gives up after ReadTimeout and the client gets 504.
t0=$(date +%s%N)
get --max-time 20 -r 0-99 "$B$DEAD"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
expect_eq "unseeded read" "$code" 504
note "504 after ${ms} ms"
[ "$ms" -lt 15000 ] || fail "504 took ${ms} ms"; ok

# The live file still serves.
get -r 0-99 "$U"
expect_eq "still serving" "$code" 206

# SIGTERM while a read is blocked: the watcher cancels it and the daemon exits quickly.
curl -s -o /dev/null --max-time 20 -r 1000-1099 "$B$DEAD" &
GS_PIDS+=("$!")
sleep 0.5
gs_stop TERM 4
note "$checks checks"
echo "PASS: http_range"
