#!/usr/bin/env bash
# api_stream.sh - the TorrServer side of the api port against the real daemon and a
# loopback seeder: POST /torrent/upload (a real .torrent through curl -F, with its
# fields, and every refusal: not multipart, no file, empty, not a torrent, bad category,
# too big), GET|HEAD /stream?link=&index=&play and /play/<hash>/<id> byte-exact against
# the source for whole files and ranges (ids from 1, a file the library does not list,
# a magnet the daemon did not know yet), their errors, and the "drop" action (asleep at
# once when idle; deferred with a header while a read is in progress).
. "$TOP_SRCDIR/tests/lib/common.sh"
gs_need_swarm

mkdir -p "$T/data/Pack"
"$MKMEDIA" "$T/data/film.mkv" 12 || fail mkmedia
"$MKMEDIA" "$T/data/Pack/a.mkv" 4 || fail mkmedia
"$PY" -c 'import sys; sys.stdout.write("".join("note line %d\n" % i for i in range(400)))' > "$T/data/Pack/notes.nfo"
cp "$T/data/film.mkv" "$T/data/second.mkv"
"$MKMEDIA" "$T/data/third.mkv" 24 || fail mkmedia   # big enough to outlast socket buffers
hf=$(gs_make_torrent "$T/data/film.mkv" 256 "$T/film.torrent")
hp=$(gs_make_torrent "$T/data/Pack" 256 "$T/pack.torrent")
hs=$(gs_make_torrent "$T/data/second.mkv" 256 "$T/second.torrent")
ht=$(gs_make_torrent "$T/data/third.mkv" 256 "$T/third.torrent")
mkdir -p "$T/docs/Docs"; echo one > "$T/docs/Docs/a.txt"; echo two > "$T/docs/Docs/b.txt"
hd=$(gs_make_torrent "$T/docs/Docs" 16 "$T/docs.torrent")
gs_seed 127.0.0.31 "$T/data" "$T/film.torrent" "$T/pack.torrent" "$T/second.torrent" "$T/third.torrent"

GS_ENGINE_EXTRA=', "FastDropSeconds": 1' gs_config "$T/c.json"
gs_start run --config "$T/c.json"
gs_wait_ready
A="http://127.0.0.1:$GS_API_PORT"
M="http://127.0.0.1:$GS_METRICS_PORT"
# req ARGS...: curl into $T/body and $T/hdr; sets $code and $body
req() { rm -f "$T/body"; code=$(curl -s -D "$T/hdr" -o "$T/body" -w '%{http_code}' --max-time 40 "$@"); touch "$T/body"; body=$(tr -d '\0' < "$T/body"); }
post() { req -X POST "$A/torrents" --data-binary "$1"; }
metric() { curl -sf "$M/metrics" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# ---- upload ----
req -X POST "$A/torrent/upload" -F "file=@$T/film.torrent;type=application/x-bittorrent" \
	-F "title=Upload Film (2003)" -F "category=movie" -F "poster=http://p/f.jpg" -F "imdb=tt0000003" -F "save=true" -F "peers=$SEED_EP"
expect_eq "upload status" "$code" 200
expect_eq "upload hash" "$(json_get "$body" hash)" "$hf"
expect_eq "upload title" "$(json_get "$body" title)" "Upload Film (2003)"
expect_eq "upload poster" "$(json_get "$body" poster)" "http://p/f.jpg"
expect_eq "upload imdb" "$(json_get "$body" imdb)" "tt0000003"
post "{\"action\":\"get\",\"hash\":\"$hf\"}"
expect_eq "uploaded torrent is in the catalog" "$(json_get "$body" title)" "Upload Film (2003)"
# TorrServer's own form: the part is "file", several files allowed (last one answered).
req -X POST "$A/torrent/upload" -F "file=@$T/pack.torrent" -F "peers=127.0.0.32:9, $SEED_EP"
expect_eq "upload pack" "$code" 200
expect_eq "upload pack hash" "$(json_get "$body" hash)" "$hp"
expect_eq "upload pack category (default)" "$(json_get "$body" category)" "movie"

upbad() { expect_eq "upload: $1 status" "$code" "$2"; expect_match "upload: $1 reason" "$body" "$3"; }
req -X POST "$A/torrent/upload" --data-binary 'plain bytes'
upbad "urlencoded without a file" 400 'no .torrent file part|malformed'
req -X POST "$A/torrent/upload" -H 'Content-Type: text/plain' --data-binary 'plain bytes'
upbad "not multipart" 400 'multipart/form-data'
req -X POST "$A/torrent/upload" -F "title=x"
upbad "no file part" 400 'no .torrent file part'
: > "$T/empty.torrent"
req -X POST "$A/torrent/upload" -F "file=@$T/empty.torrent"
upbad "empty file" 400 'file 1 is empty'
head -c 5000 /dev/urandom > "$T/junk.torrent"
req -X POST "$A/torrent/upload" -F "file=@$T/junk.torrent"
upbad "not a torrent" 400 '"error":'
req -X POST "$A/torrent/upload" -F "file=@$T/film.torrent" -F "category=music"
upbad "bad category" 400 'category must be'
req -X POST "$A/torrent/upload" -F "file=@$T/film.torrent" -F "imdb=123"
upbad "bad imdb" 400 'imdb must look like'
req -X POST "$A/torrent/upload" -F "file=@$T/film.torrent" -F "peers=nohost"
upbad "bad peer" 400 'peers must be'
printf -- '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.torrent"\r\n\r\nd8:announce' > "$T/trunc"
req -X POST "$A/torrent/upload" -H 'Content-Type: multipart/form-data; boundary=XyZ' --data-binary @"$T/trunc"
upbad "truncated multipart" 400 '"error":'
head -c $((17 * 1024 * 1024)) /dev/zero > "$T/huge.torrent"
req -X POST "$A/torrent/upload" -F "file=@$T/huge.torrent"
expect_eq "upload over the cap" "$code" 413

# ---- /stream and /play, byte-exact ----
SRC="$T/data/film.mkv"
SIZE=$(stat -c %s "$SRC")
slice() { "$PY" -c 'import sys; f=open(sys.argv[1],"rb"); f.seek(int(sys.argv[2])); sys.stdout.buffer.write(f.read(int(sys.argv[3])))' "$1" "$2" "$3" > "$4"; }
req "$A/stream?link=$hf&index=1&play"
expect_eq "/stream play status" "$code" 200
cmp -s "$T/body" "$SRC" || fail "/stream?link=&index=1&play: body differs from the source"; ok
req -r 1000-70999 "$A/stream/film.mkv?link=$hf&index=1&play"
expect_eq "/stream/<name> range status" "$code" 206
slice "$SRC" 1000 70000 "$T/want"
cmp -s "$T/body" "$T/want" || fail "/stream range differs"; ok
expect_match "/stream Content-Range" "$(cat "$T/hdr")" "Content-Range: bytes 1000-70999/$SIZE"
req -r -4096 "$A/play/$hf/1"
expect_eq "/play suffix range" "$code" 206
slice "$SRC" $((SIZE - 4096)) 4096 "$T/want"
cmp -s "$T/body" "$T/want" || fail "/play suffix range differs"; ok
mid=$((SIZE / 2 + 12345))
req -r "$mid-$((mid + 300000))" "$A/play/${hf^^}/1"
slice "$SRC" "$mid" 300001 "$T/want"
cmp -s "$T/body" "$T/want" || fail "/play middle range (upper-case hash) differs"; ok
req -r 0-99,2000-2099 "$A/play/$hf/1"
expect_eq "/play multi-range" "$code" 206
expect_match "/play multipart type" "$(cat "$T/hdr")" 'multipart/byteranges; boundary='
req -I "$A/play/$hf/1"
expect_eq "HEAD /play" "$code" 200
expect_match "HEAD /play length" "$(cat "$T/hdr")" "Content-Length: $SIZE"
expect_match "HEAD /play ranges" "$(cat "$T/hdr")" "Accept-Ranges: bytes"
req -I "$A/stream?link=$hf&index=1&play"
expect_match "HEAD /stream length" "$(cat "$T/hdr")" "Content-Length: $SIZE"
# The pack: id 2 is the .nfo the library does not list; no index plays the video.
req "$A/play/$hp/2"
expect_eq "/play of an unlisted file" "$code" 200
cmp -s "$T/body" "$T/data/Pack/notes.nfo" || fail "/play/<pack>/2 differs from notes.nfo"; ok
req -r 500-1499 "$A/stream?link=magnet:?xt=urn:btih:$hp&play"
expect_eq "/stream default index" "$code" 206
slice "$T/data/Pack/a.mkv" 500 1000 "$T/want"
cmp -s "$T/body" "$T/want" || fail "/stream without index did not play the pack's video"; ok
# A magnet the daemon does not know: added (with the query's title), then played.
req -r 0-65535 "$A/stream?link=magnet:?xt=urn:btih:$hs%26x.pe=$SEED_EP&index=1&play&title=Second%20(2004)"
expect_eq "/stream of a new magnet" "$code" 206
slice "$T/data/second.mkv" 0 65536 "$T/want"
cmp -s "$T/body" "$T/want" || fail "/stream of a new magnet differs"; ok
post "{\"action\":\"get\",\"hash\":\"$hs\"}"
expect_eq "the magnet was added with its title" "$(json_get "$body" title)" "Second (2004)"
# Without play: the TorrentStatus.
req "$A/stream?link=$hf&stat"
expect_eq "/stream stat" "$code" 200
expect_eq "/stream stat hash" "$(json_get "$body" hash)" "$hf"

sbad() { req "$1"; expect_eq "$1 status" "$code" "$2"; expect_match "$1 reason" "$body" "$3"; }
sbad "$A/stream" 400 'link: missing'
sbad "$A/stream?link=$T/film.torrent&play" 400 'link must be a magnet'
sbad "$A/stream?link=$hf&index=0&play" 400 'index must be a file id between 1 and 1'
sbad "$A/stream?link=$hf&index=2&play" 400 'index must be a file id between 1 and 1'
sbad "$A/stream?link=$hf&index=abc&play" 400 'index must be a file id'
sbad "$A/stream?link=1111111111111111111111111111111111111111&play&category=music" 400 'category must be'
req -X POST "$A/torrent/upload" -F "file=@$T/docs.torrent"
expect_eq "upload docs" "$code" 200
sbad "$A/stream?link=$hd&play" 400 'index: missing, and the torrent has 2 files'
sbad "$A/play/$hf/0" 404 'no file 0 in torrent'
sbad "$A/play/$hf/2" 404 'no file 2 in torrent'
sbad "$A/play/$hf/x" 400 'file id must be a number'
sbad "$A/play/$hf" 400 'expected /play/<40-hex info-hash>/<file id from 1>'
sbad "$A/play/zz/1" 400 'expected /play/'
sbad "$A/play/0000000000000000000000000000000000000000/1" 404 'unknown torrent hash'
req -X POST "$A/play/$hf/1"
expect_eq "POST /play" "$code" 405

# ---- drop ----
post '{"action":"active"}'
expect_match "read torrents are awake" "$body" "\"hash\":\"$hf\""
sleeps0=$(metric sleeps 2>/dev/null || echo 0)
post "{\"action\":\"drop\",\"hash\":\"$hf\"}"
expect_eq "drop" "$code" 200
expect_eq "drop answers the torrent asleep" "$(json_get "$body" stat)" 5
post '{"action":"active"}'
printf '%s' "$body" | grep -q "\"hash\":\"$hf\"" && fail "dropped torrent still active"; ok
# A drop while a read is in progress is deferred and says so; the read completes, then
# the torrent sleeps FastDropSeconds (1 s here) after it. A torrent never read before:
# its first read wakes it and holds it for the whole response, whatever the caches have.
req -X POST "$A/torrent/upload" -F "file=@$T/third.torrent" -F "peers=$SEED_EP"
expect_eq "upload third" "$code" 200
curl -s --limit-rate 4M -o "$T/slow" "$A/play/$ht/1" & slow=$!
for ((i = 0; i < 200; i++)); do
	[ -s "$T/slow" ] && break
	sleep 0.05
done
[ -s "$T/slow" ] || fail "the slow read did not start"
post "{\"action\":\"drop\",\"hash\":\"$ht\"}"
expect_eq "drop while read" "$code" 200
expect_match "drop while read is deferred" "$(cat "$T/hdr")" 'X-Gostream-Drop: after-readers'
expect_eq "the torrent being read stays awake" "$(json_get "$body" stat)" 3
kill -0 "$slow" 2>/dev/null || fail "the slow read ended before the drop was checked"; ok
wait "$slow" || fail "the read in progress failed after a drop"
cmp -s "$T/slow" "$T/data/third.mkv" || fail "the read in progress was damaged by drop"; ok
for ((i = 0; i < 100; i++)); do
	post '{"action":"active"}'
	printf '%s' "$body" | grep -q "\"hash\":\"$ht\"" || break
	sleep 0.05
done
printf '%s' "$body" | grep -q "\"hash\":\"$ht\"" && fail "not asleep 5 s after the last reader of a dropped torrent"; ok
dbad() { post "$1"; expect_eq "status for $1" "$code" "$2"; expect_match "reason for $1" "$body" "$3"; }
dbad '{"action":"drop"}' 400 'drop: missing field \\"hash\\"'
dbad '{"action":"drop","hash":"nothex"}' 400 'hash must be 40 hex digits'
dbad '{"action":"drop","hash":"0000000000000000000000000000000000000000"}' 404 'unknown torrent hash'

gs_stop TERM 5
note "$checks checks"
