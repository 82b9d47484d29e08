#!/usr/bin/env bash
# stream_scan_warm.sh - a Plex-like library scan leaves every title warm: NF titles are
# scanned cold through the FUSE mount and NH more over HTTP (first 1 MiB + last 16 MiB of
# each, 8 titles in parallel, seeder up); then, with every torrent asleep, a warm pass over
# HTTP and one through FUSE (kernel page cache dropped per file, so FUSE reads reach the
# daemon, readahead included) read every title byte-exact while the engine counts zero
# activations and zero peer connections and the stream layer zero wakes and zero engine
# bytes. The NH titles warmed over HTTP are the ones read through FUSE for the first time
# in the warm pass: the kernel's readahead must find what it asks for warm too.
# The titles are one 64 MiB Matroska file under NF + NH torrent names (hard links).
. "$TOP_SRCDIR/tests/lib/common.sh"
[ -c /dev/fuse ] || skip "/dev/fuse missing: FUSE cannot be tested here"
[ "$(id -u)" = 0 ] || skip "needs root (the FUSE mount and its page-cache control)"
gs_need_swarm
: "${SCAN_NF:=80}" "${SCAN_NH:=24}"
BENCH_PY="$TOP_SRCDIR/tests/bench/bench.py"
SCAN="$TOP_SRCDIR/tests/lib/scan_check.py"
MNT=$T/mnt

scan_cleanup() {
	local i
	if [ -n "$GS_PID" ] && kill -0 "$GS_PID" 2>/dev/null; then
		kill -TERM "$GS_PID" 2>/dev/null
		for i in $(seq 50); do kill -0 "$GS_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$GS_PID" 2>/dev/null
	fi
	if is_mounted || ! stat "$MNT" > /dev/null 2>&1; then
		umount -l "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null
	fi
	# GS_KEEP_LOG=FILE keeps gostream's log (debugging a failure)
	[ -n "${GS_KEEP_LOG:-}" ] && cp "$T/gs.log" "$GS_KEEP_LOG"
	gs_cleanup
}
trap scan_cleanup EXIT
is_mounted() { awk -v m="$MNT" '$5 == m && / - fuse/ { f = 1 } END { exit !f }' /proc/self/mountinfo; }
metrics() { curl -sf --max-time 5 "http://127.0.0.1:$GS_METRICS_PORT/metrics" > "$T/m.json" ||
	fail "GET /metrics"; }
m() { "$PY" -c 'import json,sys; print(int(json.load(open(sys.argv[1]))[sys.argv[2]]))' "$T/m.json" "$1"; }
# counters KEY... -> "v1 v2 ..." from one /metrics snapshot
counters() { local k out=; metrics; for k in "$@"; do out="$out $(m "$k")"; done; echo $out; }
jf() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
# settle SECONDS: fillers done, write queue empty, no file open, every torrent asleep.
settle() {
	local i
	for ((i = 0; i < $1 * 5; i++)); do
		metrics
		[ "$(m warmup_fill_pending_files)" = 0 ] && [ "$(m warmup_queue_bytes)" = 0 ] &&
			[ "$(m open_files)" = 0 ] && [ "$(m torrents_awake)" = 0 ] && return 0
		sleep 0.2
	done
	fail "not settled within $1 s: $(cat "$T/m.json" | head -c 600)"
}
# pass NAME MODE LIST [--drop-cache]: one byte-checked scan; fails on any error.
pass() {
	local name=$1 mode=$2 list=$3
	shift 3
	timeout -k 5 150 "$PY" "$SCAN" --mode "$mode" --list "$list" --ref "$SRC" --par 8 \
		--max-seconds 100 "$@" > "$T/$name.json" || fail "scan $name did not finish"
	note "$name: $(cat "$T/$name.json")"
	expect_eq "$name errors" "$(jf "$T/$name.json" nerrors)" 0
	expect_eq "$name titles checked" "$(jf "$T/$name.json" checked)" "$(wc -l < "$list")"
}

mkdir -p "$T/data" "$T/tor"
"$MKMEDIA" "$T/data/film.mkv" 64 || fail "mkmedia"
SRC=$T/data/film.mkv
gs_make_torrent "$SRC" 1024 "$T/film.torrent" > /dev/null
"$PY" "$BENCH_PY" clone-torrents "$T/film.torrent" "$SRC" "$T/tor" "$T/data" t $((SCAN_NF + SCAN_NH)) \
	> "$T/names" || fail "clone-torrents"
awk -v d="$T/tor" '{ t = $1; sub(/\.mkv$/, "", t); printf "%s/%s.torrent\t%s (2020)\n", d, $1, t }' \
	"$T/names" > "$T/titles"
ls "$T"/tor/*.torrent > "$T/seed.list"
out=$(mktemp "$T/seed.XXXXXX")
"$PY" "$BENCH_PY" seed --bind 127.0.0.71:0 --data "$T/data" --list "$T/seed.list" --max-seconds 600 \
	> "$out" 2> "$out.err" &
SEED_PID=$!
GS_PIDS+=("$SEED_PID")
# starting a few hundred torrents takes seconds, more on a loaded machine
for ((i = 0; i < 900; i++)); do
	grep -q '^READY ' "$out" && break
	kill -0 "$SEED_PID" 2>/dev/null || break
	sleep 0.1
done
grep -q '^READY ' "$out" || fail "seeder not ready: $(cat "$out.err")"
SEED_EP=$(awk '/^READY /{print $2; exit}' "$out")

# Engine and stream settings are the defaults (25 wake slots, 64 MiB piece store, 25
# connections), but for the 16 MiB warmup head; FastDropSeconds 1 only makes any torrent
# that lingers settle sooner.
GS_ENGINE_EXTRA=', "FastDropSeconds": 1'
# SCAN_EXTRA_CFG='"log_level": "debug"' (with GS_KEEP_LOG=FILE) when debugging a failure
gs_config "$T/c.json" ${SCAN_EXTRA_CFG:-} "\"fuse_mount_path\": \"$MNT\"" '"warmup_head_size_mb": 16'
gs_start run --config "$T/c.json"
gs_wait_ready
for ((i = 0; i < 100; i++)); do is_mounted && break; sleep 0.1; done
is_mounted || fail "$MNT not mounted"
"$PY" "$BENCH_PY" add --api "http://127.0.0.1:$GS_API_PORT" --list "$T/titles" --peer "$SEED_EP" \
	> "$T/added" || fail "adding $((SCAN_NF + SCAN_NH)) titles"
URL=http://127.0.0.1:$GS_STREAM_PORT
awk -v u="$URL" '{ print u $2 }' "$T/added" > "$T/http.all"
cut -f2 "$T/added" | "$PY" -c '
import sys, urllib.parse as u
for l in sys.stdin: print(sys.argv[1] + u.unquote(l.strip()))' "$MNT" > "$T/fuse.all"
head -n "$SCAN_NF" "$T/fuse.all" > "$T/cold_fuse.list"
tail -n "$SCAN_NH" "$T/http.all" > "$T/cold_http.list"
for ((i = 0; i < 50; i++)); do [ -f "$(tail -n1 "$T/fuse.all")" ] && break; sleep 0.1; done

# Cold: FUSE for the first NF titles, HTTP for the last NH.
pass cold_fuse file "$T/cold_fuse.list"
pass cold_http http "$T/cold_http.list"
settle 60
read -r drops requeued skipped fillb werr <<< "$(counters warmup_dropped_submits warmup_requeued \
	warmup_fill_skipped warmup_fill_bytes warmup_write_errors)"
note "after the cold passes: write-queue refusals $drops, handed to fillers $requeued," \
	"fill bytes $fillb, fill chunks not obtainable $skipped, write errors $werr"
expect_eq "warmup write errors" "$werr" 0

# Warm: everything over HTTP, then everything through FUSE.
for p in http fuse; do
	read -r a0 c0 w0 e0 r0 <<< "$(counters activations peer_connections stream_wakes engine_bytes stream_reads)"
	if [ $p = http ]; then pass warm_http http "$T/http.all"
	else pass warm_fuse file "$T/fuse.all" --drop-cache; fi
	read -r a1 c1 w1 e1 r1 <<< "$(counters activations peer_connections stream_wakes engine_bytes stream_reads)"
	note "warm $p: activations $((a1 - a0)), peer connections $((c1 - c0)), stream wakes $((w1 - w0))," \
		"engine bytes $((e1 - e0)), stream reads $((r1 - r0))"
	# The pass reached the daemon (for FUSE: the page cache really was dropped).
	[ $((r1 - r0)) -ge $((2 * (SCAN_NF + SCAN_NH))) ] || fail "warm $p: only $((r1 - r0)) reads reached the stream layer"; ok
	expect_eq "warm $p activations" $((a1 - a0)) 0
	expect_eq "warm $p peer connections" $((c1 - c0)) 0
	expect_eq "warm $p stream wakes" $((w1 - w0)) 0
	expect_eq "warm $p engine bytes" $((e1 - e0)) 0
done
gs_stop TERM 15
for ((i = 0; i < 50; i++)); do is_mounted || break; sleep 0.1; done
is_mounted && fail "mount still there after stop"; ok
note "$checks checks"
