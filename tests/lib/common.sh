# common.sh - shared helpers for integration tests (sourced, bash).
# Starts the real gostream binary on free loopback ports with a temp state dir, waits
# until it answers (failing at once if it died), stops it with SIGTERM and checks its
# exit status. Every loop here is bounded; only PIDs we started are signalled.

: "${GOSTREAM:?GOSTREAM must point at the built binary}"
: "${TOP_SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
PY=/usr/bin/python3

# Time bounds of performance checks are multiplied by this: an ASan + UBSan build
# (--enable-asan) does the same work several times slower.
GS_TIME_SCALE=1
ldd "$GOSTREAM" 2>/dev/null | grep -q libasan && GS_TIME_SCALE=5

T=$(mktemp -d /tmp/gs-test.XXXXXX)
GS_PID=
GS_PIDS=()
GS_CLEANUPS=()
gs_cleanup() {
	local p c
	for c in "${GS_CLEANUPS[@]}"; do eval "$c" || true; done
	for p in "${GS_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${GS_PIDS[@]}"; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
	done
	rm -rf "$T"
}
trap gs_cleanup EXIT

fail() { echo "FAIL: $*" >&2; [ -f "$T/gs.log" ] && { echo "--- gostream log:" >&2; tail -n 40 "$T/gs.log" >&2; }; exit 1; }
# skip REASON: this machine cannot run the test (no /dev/fuse, not root, ...): exit 77.
skip() { echo "SKIP: $*" >&2; exit 77; }
# skip_missing REASON: a program or package the test needs is missing. Under the test
# command (scripts/setup.sh test, so CI) every package has been installed: then it is a
# failure, loudly, never a skip.
skip_missing() {
	if [ -n "${GS_NO_SKIP:-}" ]; then
		echo "FAIL: a package the suite needs is missing (the test command installs it): $*" >&2
		exit 1
	fi
	skip "$@"
}
note() { echo "# $*" >&2; }
checks=0
ok() { checks=$((checks + 1)); }

# expect_eq WHAT GOT WANT
expect_eq() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; ok; }
# expect_match WHAT TEXT REGEX (grep -E)
expect_match() { printf '%s' "$2" | grep -Eq -- "$3" || fail "$1: '$2' does not match /$3/"; ok; }

# A TCP port nobody listens on now (the kernel's pick on 127.0.0.1).
gs_free_port() {
	"$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# gs_config FILE [extra JSON members...]: a config on fresh ports and a state dir under $T.
gs_config() {
	local f=$1; shift
	GS_STREAM_PORT=$(gs_free_port); GS_API_PORT=$(gs_free_port); GS_METRICS_PORT=$(gs_free_port)
	while [ "$GS_API_PORT" = "$GS_STREAM_PORT" ]; do GS_API_PORT=$(gs_free_port); done
	while [ "$GS_METRICS_PORT" = "$GS_STREAM_PORT" ] || [ "$GS_METRICS_PORT" = "$GS_API_PORT" ]; do
		GS_METRICS_PORT=$(gs_free_port); done
	GS_PEER_PORT=$(gs_free_port)
	while [ "$GS_PEER_PORT" = "$GS_STREAM_PORT" ] || [ "$GS_PEER_PORT" = "$GS_API_PORT" ] ||
		[ "$GS_PEER_PORT" = "$GS_METRICS_PORT" ]; do GS_PEER_PORT=$(gs_free_port); done
	{
		echo "{"
		echo "  \"proxy_listen_port\": $GS_STREAM_PORT,"
		echo "  \"api_port\": $GS_API_PORT,"
		echo "  \"metrics_port\": $GS_METRICS_PORT,"
		local m; for m in "$@"; do echo "  $m,"; done
		# No internet in the test rig: a test that is not about the blocklist must not
		# start downloading the default blocklist_url (blocklist_*.sh test that path).
		case "$*" in *'"blocklist_url"'*) ;; *) echo '  "blocklist_url": "",' ;; esac
		# The engine's defaults (uTP and TCP on: what users run), except DHT, LSD and UPnP:
		# the swarm is loopback only and their traffic would leave it.
		echo "  \"engine\": { \"DisableDHT\": true, \"DisableLSD\": true, \"DisableUPNP\": true,"
		echo "    \"PeersListenPort\": $GS_PEER_PORT ${GS_ENGINE_EXTRA:-} },"
		echo "  \"state_dir\": \"$T/state\""
		echo "}"
	} > "$f"
}

# gs_start ARGS...: starts gostream in the background, output to $T/gs.log.
gs_start() {
	"$GOSTREAM" "$@" > "$T/gs.log" 2>&1 &
	GS_PID=$!
	GS_PIDS+=("$GS_PID")
}

# gs_wait_ready [PORT] [SECONDS]: polls /health until it answers; fails at once if the
# process exited.
gs_wait_ready() {
	local port=${1:-$GS_METRICS_PORT} secs=${2:-20} i
	for ((i = 0; i < secs * 20; i++)); do
		kill -0 "$GS_PID" 2>/dev/null || { wait "$GS_PID"; fail "gostream exited early (status $?)"; }
		curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$port/health" && return 0
		sleep 0.05
	done
	fail "gostream did not answer on port $port within ${secs}s"
}

# gs_stop [SIGNAL] [SECONDS]: signals gostream and expects a clean exit 0 within SECONDS.
gs_stop() {
	local sig=${1:-TERM} secs=${2:-2} i rc
	kill "-$sig" "$GS_PID" || fail "gostream (pid $GS_PID) is not running"
	for ((i = 0; i < secs * 50; i++)); do
		kill -0 "$GS_PID" 2>/dev/null || break
		sleep 0.02
	done
	if kill -0 "$GS_PID" 2>/dev/null; then
		kill -KILL "$GS_PID"
		fail "gostream did not stop within ${secs}s of SIG$sig"
	fi
	wait "$GS_PID"; rc=$?
	[ "$rc" = 0 ] || fail "gostream exited with status $rc after SIG$sig"
	grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$T/gs.log" &&
		fail "sanitizer report in the log"
	ok
}

SEEDER="$TOP_SRCDIR/tests/lib/seeder.py"
MKMEDIA="$TOP_SRCDIR/tests/lib/mkmedia.sh"

# gs_need_swarm: skip unless python3-libtorrent, ffmpeg and mkvmerge are there.
gs_need_swarm() {
	"$PY" -c 'import libtorrent' 2>/dev/null || skip_missing "python3-libtorrent missing for $PY"
	command -v ffmpeg >/dev/null || skip_missing "ffmpeg missing"
	command -v mkvmerge >/dev/null || skip_missing "mkvmerge (mkvtoolnix) missing"
}

# gs_make_torrent SRC PIECE_KIB OUT [NAME] -> prints the info-hash
gs_make_torrent() {
	local extra=()
	[ -n "${4:-}" ] && extra=(--name "$4")
	"$PY" "$SEEDER" --make-torrent "$1" --piece-kib "$2" --out "$3" "${extra[@]}" ||
		fail "cannot make torrent $3"
}

# gs_seed IP DATA_DIR [seeder.py options...] TORRENT... -> sets SEED_EP=ip:port
gs_seed() {
	local ip=$1 data=$2 out i pid
	shift 2
	out=$(mktemp "$T/seed.XXXXXX")
	"$PY" "$SEEDER" --data "$data" --bind "$ip:0" --max-seconds 600 "$@" > "$out" 2> "$out.err" &
	pid=$!
	GS_PIDS+=("$pid")
	for ((i = 0; i < 300; i++)); do
		grep -q '^READY ' "$out" && break
		kill -0 "$pid" 2>/dev/null || { cat "$out.err" >&2; fail "seeder on $ip died"; }
		sleep 0.1
	done
	grep -q '^READY ' "$out" || fail "seeder on $ip not ready within 30 s"
	SEED_EP=$(awk '/^READY /{print $2; exit}' "$out")
}

# metrics: /metrics (JSON) into $T/m.json; mq EXPR: a Python expression over it (`j`);
# wait_for EXPR SECONDS: polls /metrics until EXPR is True, or fails showing them.
metrics() { curl -sf --max-time 5 "http://127.0.0.1:$GS_METRICS_PORT/metrics" > "$T/m.json" ||
	fail "GET /metrics"; }
mq() { "$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$T/m.json" "$1"; }
wait_for() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		metrics
		[ "$(mq "$1")" = True ] && return 0
		sleep 0.1
	done
	fail "not within $2 s: $1 (metrics: $(head -c 3000 "$T/m.json"))"
}

# json_get JSON KEY: a top-level value of a JSON object.
json_get() { printf '%s' "$1" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"; }
