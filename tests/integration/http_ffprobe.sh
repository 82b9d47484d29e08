#!/usr/bin/env bash
# http_ffprobe.sh - ffprobe on the http URL of a 64 MiB Matroska file whose Cues and Tags
# sit after the last cluster (mkvmerge's layout, like scene releases), served from a
# loopback seeder: duration and streams match ffprobe on the source file, ffprobe seeks
# to the end (a Range near EOF) instead of reading through, and the bytes the server
# handed out (its per-response debug lines) stay a small fraction of the file.
. "$TOP_SRCDIR/tests/lib/common.sh"
gs_need_swarm
command -v ffprobe > /dev/null || skip_missing "ffprobe (ffmpeg) missing"

mkdir -p "$T/data"
"$MKMEDIA" "$T/data/probe.mkv" 64 || fail "mkmedia"
SRC="$T/data/probe.mkv"
SIZE=$(stat -c %s "$SRC")
h=$(gs_make_torrent "$SRC" 1024 "$T/probe.torrent")
gs_seed 127.0.0.13 "$T/data" "$T/probe.torrent"

gs_config "$T/c.json" '"log_level": "debug"'
gs_start run --config "$T/c.json"
gs_wait_ready
B="http://127.0.0.1:$GS_STREAM_PORT"
code=$(curl -s -o "$T/add.out" -w '%{http_code}' -X POST "http://127.0.0.1:$GS_API_PORT/torrents" \
	--data-binary "{\"action\":\"add\",\"link\":\"$T/probe.torrent\",\"title\":\"Probe Film (2021)\",\"category\":\"movie\",\"peers\":[\"$SEED_EP\"]}")
[ "$code" = 200 ] || fail "add: $code $(cat "$T/add.out")"
U="$B/stream/$h/0/probe.mkv"
code=$(curl -s -o /dev/null -w '%{http_code}' -I "$U")
expect_eq "listed" "$code" 200

probe() {
	timeout 60 ffprobe -v error -show_entries \
		format=duration:stream=index,codec_type,codec_name,width,height,sample_rate,channels \
		-of json "$1"
}
probe "$SRC" > "$T/want.json" || fail "ffprobe on the source"
t0=$(date +%s%N)
probe "$U" > "$T/got.json" 2> "$T/ffprobe.err" || fail "ffprobe on $U: $(cat "$T/ffprobe.err")"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
"$PY" - "$T/want.json" "$T/got.json" <<'EOF' || fail "ffprobe results differ"
import json, sys
w, g = (json.load(open(p)) for p in sys.argv[1:3])
assert w["streams"] == g["streams"], (w["streams"], g["streams"])
assert abs(float(w["format"]["duration"]) - float(g["format"]["duration"])) < 0.001, (w, g)
assert len(g["streams"]) == 2
EOF
ok
dur=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["format"]["duration"])' "$T/got.json")
note "ffprobe over HTTP: ${ms} ms, duration $dur s, streams match the source"

# What the server handed out for this file (one debug line per response).
sleep 0.5
grep 'http_files.c.*http: GET /stream/' "$T/gs.log" > "$T/served" || fail "no response lines"
"$PY" - "$T/served" "$SIZE" <<'EOF' > "$T/summary" || fail "ffprobe read too much: $(cat "$T/summary")"
import re, sys
size = int(sys.argv[2])
total, ranges, tail = 0, [], False
for line in open(sys.argv[1]):
    m = re.search(r"\[([^\]]*)\] (\d+): (\d+) of (\d+) bytes", line)
    if not m:
        continue
    rng, sent = m.group(1), int(m.group(3))
    total += sent
    ranges.append("%s:%d" % (rng or "-", sent))
    r = re.match(r"bytes=(\d+)-", rng)
    if r and int(r.group(1)) > size // 2:
        tail = True
print("%d responses, %d bytes served of %d (%.1f%%): %s"
      % (len(ranges), total, size, 100.0 * total / size, " ".join(ranges)))
# Loopback socket buffers hold a few MB that ffprobe never reads: allow 25%.
sys.exit(0 if tail and total < size // 4 else 1)
EOF
ok
note "$(cat "$T/summary")"
gs_stop
note "$checks checks"
echo "PASS: http_ffprobe"
