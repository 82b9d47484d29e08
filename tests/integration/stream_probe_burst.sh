#!/usr/bin/env bash
# stream_probe_burst.sh - a burst of probes (head + tail of each title, 16 titles at a
# time, over HTTP) over BURST_N titles with the seeder up, BURST_W of them warmed before:
# the engine never has more than master_concurrency_limit torrents awake at once (sampled
# from /metrics every 50 ms, and the stream layer's own wake_slots_peak), no warm title
# is woken (the engine logs "bt: <hash>: awake" for each activation), the cold ones are
# (the check can see a wake), and every byte read is right.
# master_concurrency_limit is 6 here, well under the burst's 16 readers, so a slot leak or
# a torrent left awake after its probe shows. The titles are one 32 MiB Matroska file under
# BURST_N torrent names; warmup head 4 MiB and tail 2 MiB keep the fill per title small.
. "$TOP_SRCDIR/tests/lib/common.sh"
gs_need_swarm
: "${BURST_N:=240}" "${BURST_W:=40}"
LIMIT=6
BENCH_PY="$TOP_SRCDIR/tests/bench/bench.py"
SCAN="$TOP_SRCDIR/tests/lib/scan_check.py"

m() { "$PY" -c 'import json,sys; print(int(json.load(open(sys.argv[1]))[sys.argv[2]]))' "$T/m.json" "$1"; }
jf() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
settle() {   # fillers done, queue empty, nothing open, every torrent asleep
	local i
	for ((i = 0; i < $1 * 5; i++)); do
		metrics
		[ "$(m warmup_fill_pending_files)" = 0 ] && [ "$(m warmup_queue_bytes)" = 0 ] &&
			[ "$(m open_files)" = 0 ] && [ "$(m torrents_awake)" = 0 ] && return 0
		sleep 0.2
	done
	fail "not settled within $1 s: $(head -c 600 "$T/m.json")"
}
probe() {   # probe NAME LIST [options]: head 256 KiB + tail 256 KiB of each title, checked
	local name=$1 list=$2
	shift 2
	# 100 s (times GS_TIME_SCALE: an ASan build checked 162 of 240 titles in 100 s)
	timeout -k 5 $((150 * GS_TIME_SCALE)) "$PY" "$SCAN" --mode http --list "$list" --ref "$SRC" \
		--head 262144 --tail 262144 --max-seconds $((100 * GS_TIME_SCALE)) "$@" \
		> "$T/$name.json" || fail "probe $name did not finish"
	note "$name: $(cat "$T/$name.json")"
	expect_eq "$name errors" "$(jf "$T/$name.json" nerrors)" 0
	expect_eq "$name titles checked" "$(jf "$T/$name.json" checked)" "$(wc -l < "$list")"
}

mkdir -p "$T/data" "$T/tor"
"$MKMEDIA" "$T/data/film.mkv" 32 || fail "mkmedia"
SRC=$T/data/film.mkv
gs_make_torrent "$SRC" 1024 "$T/film.torrent" > /dev/null
"$PY" "$BENCH_PY" clone-torrents "$T/film.torrent" "$SRC" "$T/tor" "$T/data" b "$BURST_N" \
	> "$T/names" || fail "clone-torrents"
awk -v d="$T/tor" '{ t = $1; sub(/\.mkv$/, "", t); printf "%s/%s.torrent\t%s (2020)\n", d, $1, t }' \
	"$T/names" > "$T/titles"
ls "$T"/tor/*.torrent > "$T/seed.list"
out=$(mktemp "$T/seed.XXXXXX")
"$PY" "$BENCH_PY" seed --bind 127.0.0.73:0 --data "$T/data" --list "$T/seed.list" --max-seconds $((600 * GS_TIME_SCALE)) \
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

GS_ENGINE_EXTRA=', "FastDropSeconds": 1'
gs_config "$T/c.json" "\"master_concurrency_limit\": $LIMIT" '"warmup_head_size_mb": 4' \
	'"warmup_tail_size_mb": 2'
gs_start run --config "$T/c.json"
gs_wait_ready
"$PY" "$BENCH_PY" add --api "http://127.0.0.1:$GS_API_PORT" --list "$T/titles" --peer "$SEED_EP" \
	> "$T/added" || fail "adding $BURST_N titles"
URL=http://127.0.0.1:$GS_STREAM_PORT
awk -v u="$URL" '{ print u $2 }' "$T/added" > "$T/all.list"
head -n "$BURST_W" "$T/all.list" > "$T/warm.list"
head -n "$BURST_W" "$T/added" | cut -f1 > "$T/warm.hashes"
tail -n +$((BURST_W + 1)) "$T/added" | cut -f1 > "$T/cold.hashes"

# Warm BURST_W titles with the same probe, then let everything go to sleep.
probe prewarm "$T/warm.list" --par 8
settle 60
log0=$(wc -l < "$T/gs.log")

probe burst "$T/all.list" --par 16 --shuffle 7 --metrics "http://127.0.0.1:$GS_METRICS_PORT/metrics"
metrics
max_awake=$(jf "$T/burst.json" max_torrents_awake)
max_slots=$(jf "$T/burst.json" max_wake_slots_in_use)
peak=$(m wake_slots_peak)
tail -n +$((log0 + 1)) "$T/gs.log" | grep -oE 'bt: [0-9a-f]{40}: awake' | awk '{print $2}' |
	tr -d : | sort > "$T/woken"
warm_woken=$(sort "$T/warm.hashes" | comm -12 - <(sort -u "$T/woken") | wc -l)
cold_woken=$(sort "$T/cold.hashes" | comm -12 - <(sort -u "$T/woken") | wc -l)
note "burst over $BURST_N titles ($BURST_W warm): $(wc -l < "$T/woken") activations," \
	"cold titles woken $cold_woken of $((BURST_N - BURST_W)), warm titles woken $warm_woken;" \
	"most torrents awake at once (engine, sampled) $max_awake, wake slots in use (sampled)" \
	"$max_slots, wake_slots_peak $peak, limit $LIMIT; slot waits $(m wake_slot_waits)," \
	"slot timeouts $(m wake_slot_timeouts), fill abandoned $(m warmup_fill_abandoned)"
[ "$(jf "$T/burst.json" metric_samples)" -ge 10 ] || fail "too few /metrics samples"; ok
[ "$peak" -le "$LIMIT" ] || fail "wake_slots_peak $peak > master_concurrency_limit $LIMIT"; ok
[ "$max_slots" -le "$LIMIT" ] || fail "$max_slots wake slots in use > $LIMIT"; ok
[ "$max_awake" -le "$LIMIT" ] || fail "$max_awake torrents awake at once > $LIMIT"; ok
# The burst really contended for slots (else the limit was never tested).
[ "$peak" = "$LIMIT" ] || fail "the burst never used all $LIMIT wake slots (peak $peak)"; ok
expect_eq "warm titles woken" "$warm_woken" 0
[ "$cold_woken" -ge $(( (BURST_N - BURST_W) / 2 )) ] || fail "only $cold_woken cold titles woke"; ok
gs_stop TERM 15
note "$checks checks"
