#!/usr/bin/env bash
# demo.sh - `gostream demo` with no configuration of its own (only free ports given here):
# it generates a video, seeds it in-process, and serves it as movies/Demo (2026).mkv; the
# bytes fetched over HTTP (and the FUSE mount when /dev/fuse works) equal the generated
# file; Ctrl-C stops it, unmounts and removes its temp state.
. "$TOP_SRCDIR/tests/lib/common.sh"
command -v ffmpeg >/dev/null || skip_missing "ffmpeg missing (the demo needs it)"

gs_config "$T/c.json"       # demo ignores state_dir: it makes its own temp folder
gs_start demo --config "$T/c.json"
gs_wait_ready "$GS_METRICS_PORT" 60
for ((i = 0; i < 200; i++)); do grep -q "Ctrl-C stops" "$T/gs.log" && break; sleep 0.05; done
out=$(cat "$T/gs.log")
expect_match "demo banner" "$out" "gostream demo is running \(state: /tmp/gostream-demo-"
expect_match "demo library entry" "$out" "library entry: +movies/Demo \(2026\)\.mkv"
expect_match "demo curl hint" "$out" "curl -r 0-1023 .*http://127.0.0.1:$GS_STREAM_PORT/movies/Demo%20%282026%29.mkv"
dir=$(sed -n 's/.*gostream demo is running (state: \(.*\))$/\1/p' "$T/gs.log")
[ -d "$dir" ] || fail "demo state folder $dir missing"; ok
video="$dir/Demo (2026).mkv"
[ -s "$video" ] || fail "demo video not generated"; ok

url="http://127.0.0.1:$GS_STREAM_PORT/movies/Demo%20%282026%29.mkv"
curl -sf --max-time 60 -o "$T/got.mkv" "$url" || fail "GET $url"
cmp "$T/got.mkv" "$video" || fail "HTTP bytes differ from the generated video"; ok
code=$(curl -s -o "$T/part" -w '%{http_code}' -r 1000-1999 "$url")
expect_eq "range status" "$code" 206
cmp "$T/part" <(tail -c +1001 "$video" | head -c 1000) || fail "range bytes differ"; ok
if grep -q "(FUSE mount)" "$T/gs.log"; then
	cmp "$dir/mnt/movies/Demo (2026).mkv" "$video" || fail "FUSE bytes differ"; ok
fi
gs_stop INT 10
[ ! -e "$dir" ] || fail "demo state folder $dir left behind"; ok
! grep -q "$dir" /proc/mounts || fail "demo FUSE mount left behind"; ok
note "$checks checks"
