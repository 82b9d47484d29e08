# lib.sh - shared helpers of the benchmark scripts (sourced, bash).
# Runs the caller in a private network namespace (only lo: nothing leaves the box, btfs's
# DHT/LSD cannot leak, and seeders on 127.0.0.x never meet the other tests' ones), builds
# the shared media once, starts gostream / seeders / nginx / btfs on loopback, measures
# and appends one JSON row per figure to $BENCH_ROWS. Every wait is bounded; only PIDs
# started here are signalled; every mount made here is unmounted at exit.

# Into a private netns first (the re-executed script sees GSB_NETNS=1).
if [ -z "${GSB_NETNS:-}" ]; then
	command -v unshare >/dev/null || { echo "SKIP: unshare missing" >&2; exit 77; }
	exec unshare --net -- env GSB_NETNS=1 bash -c 'ip link set lo up && exec bash "$0" "$@"' \
		"$0" "$@"
fi

: "${GOSTREAM:?GOSTREAM must point at the built binary}"
: "${TOP_SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
. "$TOP_SRCDIR/tests/lib/common.sh"
BENCH_PY="$TOP_SRCDIR/tests/bench/bench.py"
BENCH_ID=$(basename "$0" .sh)
: "${BENCH_WORK:=${TMPDIR:-/tmp}/gostream-bench-work}"
: "${BENCH_ROWS:=$T/rows.jsonl}"
: "${BENCH_RAW:=$T/raw}"
mkdir -p "$BENCH_RAW"
# Repetitions (scaled so `make bench` stays under 20 minutes on 2 cores).
: "${BENCH_REPS:=3}"

# Background jobs run "$PY" "$BENCH_PY" directly: a backgrounded function is a subshell,
# and $! would be its PID, not the program's.
bench() { "$PY" "$BENCH_PY" "$@"; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.6f", b - a }'; }
# jq FILE EXPR: a python expression over the JSON value j of FILE (or of stdin with -).
jq() {
	"$PY" -c 'import json,sys; j=json.load(sys.stdin if sys.argv[1]=="-" else open(sys.argv[1])); v=eval(sys.argv[2]); print(json.dumps(v) if isinstance(v,(dict,list)) else v)' "$1" "$2"
}
# summ [SCALE] < numbers -> JSON summary (n, p50, p99, min, max, mean)
summ() { bench summ --scale "${1:-1}"; }
# row key=value... : one result row; id defaults to this benchmark.
row() { bench row "$BENCH_ROWS" "id=${BENCH_ID%%_*}" "$@"; }

GSB_MOUNTS=()
GSB_GS_PIDS=()
is_mounted() { awk -v m="$1" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo; }
gsb_cleanup() {
	local p m i
	for p in "${GSB_GS_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${GSB_GS_PIDS[@]}"; do
		for i in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	done
	for m in "${GSB_MOUNTS[@]}"; do
		is_mounted "$m" && { fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null ||
			umount -l "$m" 2>/dev/null; }
	done
	# gostream's logs outlive $T in the raw figures (timeouts and stalls are named there).
	case $BENCH_RAW in
		"$T"/*) ;;
		*) for m in "$T"/*.json; do
			[ -f "${m%.json}.log" ] && cp "${m%.json}.log" "$BENCH_RAW/$BENCH_ID.$(basename "${m%.json}").log"
		done;;
	esac
	# Run alone (not by run.sh): show the rows before $T goes.
	[ "$BENCH_ROWS" = "$T/rows.jsonl" ] && [ -f "$BENCH_ROWS" ] && cat "$BENCH_ROWS" >&2
	# gs_cleanup removes $T: never while something is still mounted under it.
	if awk -v t="$T/" 'index($5, t) == 1 { f = 1 } END { exit !f }' /proc/self/mountinfo; then
		echo "# $BENCH_ID: a mount is still under $T; leaving it" >&2
		T=/nonexistent-gsb
	fi
	gs_cleanup
}
trap gsb_cleanup EXIT

# ------------------------------------------------------------------ shared media

# The 1 GiB Matroska film and its 4 MiB-piece torrent, built once per work dir (kept
# across runs: mkmedia.sh's output is deterministic, so the info-hash is stable).
FILM=$BENCH_WORK/data/film.mkv
FILM_TORRENT=$BENCH_WORK/film.torrent
gsb_prepare() {
	gs_need_swarm
	mkdir -p "$BENCH_WORK/data"
	(
		flock 9
		if [ ! -s "$FILM_TORRENT" ]; then
			GS_MEDIA_CACHE=$BENCH_WORK/media-cache "$MKMEDIA" "$FILM" 1G || exit 1
			"$PY" "$SEEDER" --make-torrent "$FILM" --piece-kib 4096 --out "$FILM_TORRENT" \
				> "$BENCH_WORK/film.hash" || exit 1
		fi
	) 9> "$BENCH_WORK/.lock" || fail "cannot make the benchmark media"
	FILM_SIZE=$(stat -c %s "$FILM")
	FILM_HASH=$(cat "$BENCH_WORK/film.hash")
	# Every reader of the film hits the page cache from here on (seeder, nginx, local).
	cat "$FILM" > /dev/null
}

# gsb_titles PREFIX N : N torrents of the film under fresh names (fresh info-hashes),
# data hard-linked in $T/data. Sets TITLES_LIST (lines "torrent<TAB>title").
gsb_titles() {
	local prefix=$1 n=$2
	mkdir -p "$T/tor" "$T/data"
	ln -f "$FILM" "$T/data/film.mkv"
	bench clone-torrents "$FILM_TORRENT" "$FILM" "$T/tor" "$T/data" "$prefix" "$n" \
		> "$T/$prefix.names" || fail "clone-torrents $prefix"
	TITLES_LIST=$T/$prefix.list
	awk -v d="$T/tor" '{ t = $1; sub(/\.mkv$/, "", t); gsub(/_/, " ", t);
		printf "%s/%s.torrent\t%s (2020)\n", d, $1, t }' "$T/$prefix.names" > "$TITLES_LIST"
}

# ------------------------------------------------------------------ processes

# gsb_seed IP [--list FILE | TORRENT...] -> SEED_EP, SEED_PID. Data under $T/data.
gsb_seed() {
	local ip=$1 out i
	shift
	out=$(mktemp "$T/seed.XXXXXX")
	"$PY" "$BENCH_PY" seed --bind "$ip:0" --data "$T/data" "$@" > "$out" 2> "$out.err" &
	SEED_PID=$!
	GS_PIDS+=("$SEED_PID")
	for ((i = 0; i < 600; i++)); do
		grep -q '^READY ' "$out" && break
		kill -0 "$SEED_PID" 2>/dev/null || { cat "$out.err" >&2; fail "seeder on $ip died"; }
		sleep 0.1
	done
	grep -q '^READY ' "$out" || fail "seeder on $ip not ready within 60 s"
	SEED_EP=$(awk '/^READY /{print $2; exit}' "$out")
}

# gsb_gostream NAME [JSON members...]: a gostream with its own ports and state dir;
# GSB_FUSE=1 mounts it on $T/NAME-mnt (GS_MNT). Sets GS_PID, GS_*_PORT, GS_URL, GS_LOG.
gsb_gostream() {
	local name=$1 m i
	shift
	GS_STREAM_PORT=$(gs_free_port); GS_API_PORT=$(gs_free_port); GS_METRICS_PORT=$(gs_free_port)
	while [ "$GS_API_PORT" = "$GS_STREAM_PORT" ]; do GS_API_PORT=$(gs_free_port); done
	while [ "$GS_METRICS_PORT" = "$GS_STREAM_PORT" ] || [ "$GS_METRICS_PORT" = "$GS_API_PORT" ]; do
		GS_METRICS_PORT=$(gs_free_port); done
	GS_MNT=
	{
		echo "{ \"proxy_listen_port\": $GS_STREAM_PORT, \"api_port\": $GS_API_PORT,"
		echo "  \"metrics_port\": $GS_METRICS_PORT, \"state_dir\": \"$T/$name-state\","
		if [ "${GSB_FUSE:-0}" = 1 ]; then
			GS_MNT=$T/$name-mnt
			mkdir -p "$GS_MNT"
			echo "  \"fuse_mount_path\": \"$GS_MNT\","
		fi
		for m in "$@"; do echo "  $m,"; done
		# The engine's defaults (uTP and TCP both on: what users run), except DHT, LSD and
		# UPnP, which would only send traffic that has nowhere to go in this namespace.
		echo "  \"engine\": { \"DisableDHT\": true, \"DisableLSD\": true, \"DisableUPNP\": true,"
		echo "    \"PeersListenPort\": $(gs_free_port) ${GSB_ENGINE:-} } }"
	} > "$T/$name.json"
	GS_LOG=$T/$name.log
	"$GOSTREAM" run --config "$T/$name.json" > "$GS_LOG" 2>&1 &
	GS_PID=$!
	GS_PIDS+=("$GS_PID")
	GSB_GS_PIDS+=("$GS_PID")
	[ -n "$GS_MNT" ] && GSB_MOUNTS+=("$GS_MNT")
	for ((i = 0; i < 400; i++)); do
		kill -0 "$GS_PID" 2>/dev/null || { tail -20 "$GS_LOG" >&2; fail "gostream exited early"; }
		curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$GS_METRICS_PORT/health" && break
		sleep 0.05
	done
	curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$GS_METRICS_PORT/health" ||
		fail "gostream not answering within 20 s"
	if [ -n "$GS_MNT" ]; then
		for ((i = 0; i < 100; i++)); do is_mounted "$GS_MNT" && break; sleep 0.1; done
		is_mounted "$GS_MNT" || fail "gostream did not mount $GS_MNT"
	fi
	GS_URL=http://127.0.0.1:$GS_STREAM_PORT
}

# gsb_gostream_stop: SIGTERM, a clean exit within 10 s (it unmounts itself).
gsb_gostream_stop() {
	local i rc
	kill -TERM "$GS_PID" 2>/dev/null
	for ((i = 0; i < 100; i++)); do kill -0 "$GS_PID" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$GS_PID" 2>/dev/null && { kill -KILL "$GS_PID"; fail "gostream did not stop in 10 s"; }
	wait "$GS_PID"; rc=$?
	[ "$rc" = 0 ] || note "gostream exited with status $rc"
}

# gsb_add LIST [PEER] -> ADDED (lines "hash<TAB>/movies/...")
gsb_add() {
	ADDED=$T/added.$RANDOM
	bench add --api "http://127.0.0.1:$GS_API_PORT" --list "$1" ${2:+--peer "$2"} > "$ADDED" ||
		fail "adding $(wc -l < "$1") torrents"
}

# metric NAME: one top-level value of gostream's /metrics.
metric() {
	curl -sf --max-time 5 "http://127.0.0.1:$GS_METRICS_PORT/metrics" | jq - "j[\"$1\"]"
}
api() { curl -sf --max-time 10 -X POST "http://127.0.0.1:$GS_API_PORT/torrents" -d "$1"; }
cpu_of() { bench cpu "$1"; }
# cpu_tree PID: CPU seconds of PID and its children (nginx master + workers).
cpu_tree() {
	local t=0 p
	for p in "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		t=$(awk -v a="$t" -v b="$(bench cpu "$p")" 'BEGIN { printf "%.3f", a + b }')
	done
	echo "$t"
}
# warm_http URL: reads the whole URL once (fills gostream's caches).
warm_http() { curl -sf -o /dev/null --max-time 120 "$1" || fail "warming $1"; }

# gsb_nginx ROOT -> NGX_PORT, NGX_PID (the master), NGX_URL: as Debian ships it (a worker
# per core, sendfile on), in the foreground so the master is our child.
gsb_nginx() {
	command -v nginx >/dev/null || fail "nginx missing (apt-get install nginx)"
	local d=$T/nginx i
	mkdir -p "$d/tmp"
	NGX_PORT=$(gs_free_port)
	cat > "$d/nginx.conf" <<-EOF
	daemon off;
	user root;
	worker_processes auto;
	pid $d/nginx.pid;
	error_log $d/error.log;
	events { worker_connections 1024; }
	http {
	  access_log off;
	  client_body_temp_path $d/tmp; proxy_temp_path $d/tmp; fastcgi_temp_path $d/tmp;
	  uwsgi_temp_path $d/tmp; scgi_temp_path $d/tmp;
	  sendfile on; tcp_nopush on; keepalive_requests 1000000;
	  default_type application/octet-stream;
	  server { listen 127.0.0.1:$NGX_PORT; root $1; }
	}
	EOF
	nginx -c "$d/nginx.conf" -p "$d" 2> "$d/stderr" &
	NGX_PID=$!
	GS_PIDS+=("$NGX_PID")
	for ((i = 0; i < 100; i++)); do
		curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$NGX_PORT/" && break
		kill -0 "$NGX_PID" 2>/dev/null || { cat "$d/stderr" >&2; fail "nginx died"; }
		sleep 0.05
	done
	NGX_URL=http://127.0.0.1:$NGX_PORT
}

# gsb_btfs TORRENT_OR_MAGNET MNT -> BTFS_PID; btfs in the foreground (-f) so its PID is
# ours; data in $T/btfs-data.N (btfs deletes it at unmount).
gsb_btfs() {
	command -v btfs >/dev/null || fail "btfs missing (apt-get install btfs)"
	mkdir -p "$2" "$T/btfs-data.$BASHPID.$RANDOM"
	GSB_MOUNTS+=("$2")
	btfs -f --data-directory="$(ls -d "$T"/btfs-data.* | tail -1)" "$1" "$2" \
		> "$T/btfs.$RANDOM.log" 2>&1 &
	BTFS_PID=$!
	GS_PIDS+=("$BTFS_PID")
}
# gsb_btfs_stop MNT: unmount (btfs then exits), bounded.
gsb_btfs_stop() {
	local i
	fusermount3 -u "$1" 2>/dev/null || fusermount3 -uz "$1" 2>/dev/null
	for ((i = 0; i < 100; i++)); do kill -0 "$BTFS_PID" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$BTFS_PID" 2>/dev/null
	wait "$BTFS_PID" 2>/dev/null
	return 0
}
# magnet HASH NAME PEER
magnet() { echo "magnet:?xt=urn:btih:$1&dn=$2&x.pe=$3"; }

# wait_file PATH SECONDS: polls until PATH exists; prints seconds waited.
wait_file() {
	local t0 i
	t0=$(date +%s.%N)
	for ((i = 0; i < $2 * 50; i++)); do
		[ -e "$1" ] && { since "$t0"; return 0; }
		sleep 0.02
	done
	return 1
}

# ddread FILE [dd operands...] -> bytes read (to /dev/null: a pipe would be the bottleneck)
ddread() {
	local f=$1
	shift
	dd if="$f" of=/dev/null bs=1M "$@" 2>&1 | awk '/bytes/ { print $1; f = 1 } END { if (!f) print 0 }'
}
# rate BYTES SECONDS -> MB/s (10^6)
rate() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b / s / 1e6 }'; }
# median of numbers on stdin
median() { summ | jq - 'j["p50"]'; }
