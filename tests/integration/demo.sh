#!/usr/bin/env bash
# demo.sh - `gostream demo` starts with no configuration of its own (only free ports given
# here), prints what to try, serves, and on Ctrl-C stops and removes its temp state.
. "$TOP_SRCDIR/tests/lib/common.sh"

gs_config "$T/c.json"       # demo ignores state_dir: it makes its own temp folder
gs_start demo --config "$T/c.json"
gs_wait_ready "$GS_METRICS_PORT" 60
for ((i = 0; i < 100; i++)); do grep -q "Ctrl-C stops" "$T/gs.log" && break; sleep 0.05; done
out=$(cat "$T/gs.log")
expect_match "demo banner" "$out" "gostream demo is running \(state: /tmp/gostream-demo-"
expect_match "demo says what is missing" "$out" "not available yet"
expect_match "demo health URL" "$out" "curl http://127.0.0.1:$GS_METRICS_PORT/health"
dir=$(sed -n 's/.*gostream demo is running (state: \(.*\))$/\1/p' "$T/gs.log")
[ -d "$dir" ] || fail "demo state folder $dir missing"; ok
if command -v ffmpeg >/dev/null; then
	[ -s "$dir/Demo (2026).mkv" ] || fail "demo video not generated"; ok
fi
curl -sf "http://127.0.0.1:$GS_METRICS_PORT/metrics" | grep -q '"config_source"' || fail "metrics"
gs_stop INT 5
[ ! -e "$dir" ] || fail "demo state folder $dir left behind"; ok
note "$checks checks"
