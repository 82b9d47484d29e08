#!/usr/bin/env bash
# blocklist_default.sh - the blocklist when its host cannot be reached (the CI has no
# internet): with the default blocklist_url in a network namespace holding only lo, the
# download fails at once and says why, the film streams unfiltered meanwhile, and the
# daemon stops promptly; with a host that accepts and never answers, a download still
# in flight does not delay SIGTERM (libcurl aborts it) and streaming is not held up.
if [ -z "${GS_IN_NETNS:-}" ]; then
	if [ "$(id -u)" = 0 ] && unshare --net true 2> /dev/null; then
		GS_IN_NETNS=1 exec unshare --net -- "$BASH" "$0" "$@"
	fi
	echo "SKIP: needs root and a network namespace (so the default URL cannot be reached)" >&2
	exit 77
fi
. "$TOP_SRCDIR/tests/lib/common.sh"
gs_need_swarm
ip link set lo up

mkdir -p "$T/data"
"$MKMEDIA" "$T/data/film.mkv" 8 || fail "mkmedia"
SRC="$T/data/film.mkv"
h=$(gs_make_torrent "$SRC" 1024 "$T/film.torrent")
gs_seed 127.0.0.41 "$T/data" "$T/film.torrent"

M="http://127.0.0.1"
metric() { json_get "$(curl -sf "$M:$GS_METRICS_PORT/metrics")" "$1"; }
wait_metric() {
	local i v
	for ((i = 0; i < $3 * 10; i++)); do
		v=$(metric "$1") && printf '%s' "$v" | grep -Eq -- "$2" && { ok; return 0; }
		sleep 0.1
	done
	fail "metric $1 = '$v', want /$2/ within $3 s"
}
add_and_stream() {
	local code
	code=$(curl -s -o "$T/add.out" -w '%{http_code}' -X POST "$M:$GS_API_PORT/torrents" --data-binary \
		"{\"action\":\"add\",\"link\":\"$T/film.torrent\",\"title\":\"Default Film (2020)\",\"category\":\"movie\",\"peers\":[\"$SEED_EP\"]}")
	[ "$code" = 200 ] || fail "add: $code $(cat "$T/add.out")"
	curl -sf --max-time 20 -o "$T/got" "$M:$GS_STREAM_PORT/stream/$h/0" || fail "GET the film ($1)"
	cmp -s "$T/got" "$SRC" || fail "film differs ($1)"; ok
}

# 1. The default config's blocklist_url, unreachable.
GS_ENGINE_EXTRA=', "UseDisk": false'
gs_config "$T/c.json"
sed -i '/"blocklist_url": ""/d' "$T/c.json"
grep -q blocklist_url "$T/c.json" && fail "config still sets blocklist_url"
DEF=$("$GOSTREAM" check-config --config "$T/c.json" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["blocklist_url"])') ||
	fail "check-config"
expect_match "default blocklist_url" "$DEF" '^https://.*\.gz$'
t0=$(date +%s%N)
gs_start run --config "$T/c.json"
gs_wait_ready
add_and_stream "default blocklist unreachable"
note "film streamed in $((($(date +%s%N) - t0) / 1000000)) ms from start with the default list unreachable"
expect_eq "blocklist on" "$(metric blocklist_enabled)" True
wait_metric blocklist_failures '^[1-9]' 10
expect_match "reason" "$(metric blocklist_last_error)" "^download $DEF: "
expect_eq "no ranges" "$(metric blocklist_ranges)" 0
expect_eq "never refreshed" "$(metric blocklist_last_refresh)" 0
grep -q "blocklist: no saved copy of $DEF yet: peers are unfiltered until the first download" "$T/gs.log" ||
	fail "no log line about the unfiltered start"; ok
grep -q "blocklist: download $DEF: .*; keeping the list in use (0 ranges)" "$T/gs.log" ||
	fail "no log line for the failed download"; ok
gs_stop TERM 2
[ -e "$T/state/blocklist.list" ] && fail "a failed download left a saved copy"; ok

# 2. A host that accepts and never answers: SIGTERM is not delayed by the download.
"$PY" - > "$T/mute.out" 2>&1 <<'EOF' &
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
print("READY 127.0.0.1:%d" % s.getsockname()[1], flush=True)
conns = []
deadline = time.time() + 120
s.settimeout(0.5)
while time.time() < deadline:
    try:
        conns.append(s.accept()[0])     # read nothing, answer nothing
    except socket.timeout:
        pass
EOF
GS_PIDS+=("$!")
for ((i = 0; i < 100; i++)); do grep -q '^READY' "$T/mute.out" 2> /dev/null && break; sleep 0.05; done
MUTE=$(awk '/^READY/{print $2}' "$T/mute.out")
[ -n "$MUTE" ] || fail "mute host not ready"
rm -rf "$T/state"
gs_config "$T/c2.json" "\"blocklist_url\": \"http://$MUTE/list.gz\""
gs_start run --config "$T/c2.json"
gs_wait_ready
wait_metric blocklist_last_attempt '^[1-9]' 10
add_and_stream "blocklist download hanging"
expect_eq "no failure yet (still waiting on the host)" "$(metric blocklist_failures)" 0
t0=$(date +%s%N)
gs_stop TERM 2
note "stopped in $((($(date +%s%N) - t0) / 1000000)) ms with a blocklist download in flight"
note "$checks checks"
