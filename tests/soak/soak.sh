#!/usr/bin/env bash
# soak.sh - `make soak`: the real daemon with its FUSE mount under a mixed load for
# SOAK_SECONDS (default 1800) against a loopback swarm, then a verdict (tests/soak/soak.py
# does the load, the /proc sampling and the rules; see its header). Not part of make check.
#   SOAK_SECONDS   duration (default 1800; e.g. 600 for 10 minutes)
#   SOAK_TITLES    scan titles (default 200; clones of one 64 MiB Matroska file)
#   SOAK_CHURN     titles cycled through add/rem (default 12)
#   SOAK_RESTART   seconds between restarts of seeder S2 (default 180)
#   SOAK_KEEP=DIR  keep the log, samples and summary there
# Needs root and /dev/fuse (exit 77 otherwise), python3-libtorrent, ffmpeg, mkvmerge.
# Seeder S1 (127.0.0.71) holds every title and runs throughout; S2 (127.0.0.72, fixed
# port) holds the stream films and churn titles and is restarted every SOAK_RESTART s.
. "$TOP_SRCDIR/tests/lib/common.sh"
[ -c /dev/fuse ] || skip "/dev/fuse missing: the soak needs the FUSE mount"
[ "$(id -u)" = 0 ] || skip "needs root (the FUSE mount and its page-cache control)"
gs_need_swarm
: "${SOAK_SECONDS:=1800}" "${SOAK_TITLES:=200}" "${SOAK_CHURN:=12}" "${SOAK_RESTART:=180}"
BENCH_PY="$TOP_SRCDIR/tests/bench/bench.py"
MNT=$T/mnt

soak_cleanup() {
	local i
	[ -n "${SOAK_KEEP:-}" ] && mkdir -p "$SOAK_KEEP" && cp "$T/gs.log" "$T"/summary.json "$SOAK_KEEP/" 2>/dev/null
	if [ -n "$GS_PID" ] && kill -0 "$GS_PID" 2>/dev/null; then
		kill -TERM "$GS_PID" 2>/dev/null
		for i in $(seq 100); do kill -0 "$GS_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$GS_PID" 2>/dev/null
	fi
	if is_mounted || ! stat "$MNT" > /dev/null 2>&1; then
		umount -l "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null
	fi
	gs_cleanup
}
trap soak_cleanup EXIT
is_mounted() { awk -v m="$MNT" '$5 == m && / - fuse/ { f = 1 } END { exit !f }' /proc/self/mountinfo; }

note "soak: ${SOAK_SECONDS}s, $SOAK_TITLES scan titles, $SOAK_CHURN churn titles, S2 restarted every ${SOAK_RESTART}s"
mkdir -p "$T/data" "$T/tor"
"$MKMEDIA" "$T/data/film.mkv" 64 || fail "mkmedia"
BASE=$T/data/film.mkv
gs_make_torrent "$BASE" 1024 "$T/film.torrent" > /dev/null
# Two stream films of distinct bytes (a title served with another's bytes is caught).
: > "$T/films"
for x in A B; do
	"$PY" -c 'import random,sys; r=random.Random(sys.argv[2]); open(sys.argv[1],"wb").write(r.randbytes(128<<20))' \
		"$T/data/stream$x.mkv" "$x" || fail "making stream$x"
	gs_make_torrent "$T/data/stream$x.mkv" 1024 "$T/stream$x.torrent" > /dev/null
	printf '%s\t%s\t%s\t%s\n' "$T/stream$x.torrent" "$T/data/stream$x.mkv" "Soak Film $x (2019)" \
		"tt09000$(printf '%02d' $(( $(printf '%d' "'$x") - 64 )))" >> "$T/films"
done
"$PY" "$BENCH_PY" clone-torrents "$T/film.torrent" "$BASE" "$T/tor" "$T/data" t "$SOAK_TITLES" \
	> "$T/names" || fail "clone-torrents (scan)"
mkdir -p "$T/ctor"
"$PY" "$BENCH_PY" clone-torrents "$T/film.torrent" "$BASE" "$T/ctor" "$T/data" c "$SOAK_CHURN" \
	> /dev/null || fail "clone-torrents (churn)"
ls "$T"/ctor/*.torrent > "$T/churn.list"
awk -v d="$T/tor" '{ t = $1; sub(/\.mkv$/, "", t); printf "%s/%s.torrent\t%s (2020)\n", d, $1, t }' \
	"$T/names" > "$T/titles"
{ ls "$T"/tor/*.torrent; cat "$T/churn.list"; cut -f1 "$T/films"; } > "$T/seed.list"

out=$(mktemp "$T/seed.XXXXXX")
"$PY" "$BENCH_PY" seed --bind 127.0.0.71:0 --data "$T/data" --list "$T/seed.list" \
	--max-seconds $((SOAK_SECONDS + 900)) > "$out" 2> "$out.err" &
GS_PIDS+=("$!")
for ((i = 0; i < 1200; i++)); do
	grep -q '^READY ' "$out" && break
	sleep 0.1
done
grep -q '^READY ' "$out" || fail "seeder S1 not ready: $(cat "$out.err")"
S1=$(awk '/^READY /{print $2; exit}' "$out")
S2=127.0.0.72:$(gs_free_port)

GS_ENGINE_EXTRA=', "FastDropSeconds": 5, "TorrentDisconnectTimeout": 20'
gs_config "$T/c.json" "\"fuse_mount_path\": \"$MNT\"" '"warmup_head_size_mb": 8' \
	'"warmup_tail_size_mb": 4' '"read_ahead_budget_mb": 64' '"disk_warmup_quota_gb": 1'
gs_start run --config "$T/c.json"
gs_wait_ready
for ((i = 0; i < 100; i++)); do is_mounted && break; sleep 0.1; done
is_mounted || fail "$MNT not mounted"
"$PY" "$BENCH_PY" add --api "http://127.0.0.1:$GS_API_PORT" --list "$T/titles" --peer "$S1" \
	> "$T/added" || fail "adding $SOAK_TITLES titles"
note "S1 $S1, S2 $S2; gostream pid $GS_PID; $(wc -l < "$T/added") scan titles added"

rc=0
"$PY" "$TOP_SRCDIR/tests/soak/soak.py" --seconds "$SOAK_SECONDS" --pid "$GS_PID" \
	--stream-port "$GS_STREAM_PORT" --api-port "$GS_API_PORT" --metrics-port "$GS_METRICS_PORT" \
	--mount "$MNT" --data "$T/data" --seeder "$SEEDER" --s1 "$S1" --s2 "$S2" --s2-out "$T/s2.out" \
	--films "$T/films" --scan "$T/added" --base "$BASE" --churn "$T/churn.list" \
	--restart "$SOAK_RESTART" --summary-json "$T/summary.json" || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 1 ] || fail "soak.py exited with status $rc"
# A clean stop after all of it, and no sanitizer report.
gs_stop TERM 30
for ((i = 0; i < 50; i++)); do is_mounted || break; sleep 0.1; done
is_mounted && fail "mount still there after stop"
[ "$rc" = 0 ] || fail "soak: a rule was violated (see PROBLEM lines and the summary above)"
echo "soak: PASS"
