#!/usr/bin/env bash
# fault_kill.sh - kill -9 of the real daemon at random points of adds, warmup writes and
# streaming (issue 18, faults; catalog_crash.sh and warmup_crash.sh do the same to the
# catalog and warmup modules alone, with torn files). FAULT_KILLS rounds (default 39;
# with the 11 kills of those two, 50): the daemon starts on the same state dir; every
# title whose add answered 200 in any round before must be listed, nothing moved aside as
# corrupt, no temp file left, and the heads
# and tails of the titles streamed in the round before (warmup written when the kill came)
# plus two random ones read byte-exact over HTTP; then an adder (adds, and re-adds that
# replace records) and two streamers (head and tail ranges of fresh titles: warmup
# writes, checked byte-exact as they go) run until a kill -9 after 0.2-1.5 s.
. "$TOP_SRCDIR/tests/lib/common.sh"
gs_need_swarm
: "${FAULT_KILLS:=39}"
BENCH_PY="$TOP_SRCDIR/tests/bench/bench.py"
NT=48

mkdir -p "$T/data" "$T/tor"
"$MKMEDIA" "$T/data/film.mkv" 12 || fail "mkmedia"
SRC=$T/data/film.mkv
SIZE=$(stat -c %s "$SRC")
gs_make_torrent "$SRC" 512 "$T/film.torrent" > /dev/null
"$PY" "$BENCH_PY" clone-torrents "$T/film.torrent" "$SRC" "$T/tor" "$T/data" k $NT > "$T/names" ||
	fail "clone-torrents"
mapfile -t NAMES < <(cut -d' ' -f1 "$T/names")
mapfile -t HASHES < <(cut -d' ' -f2 "$T/names")
gs_seed 127.0.0.87 "$T/data" "$T"/tor/*.torrent
GS_ENGINE_EXTRA=', "ReadTimeoutSeconds": 20'
gs_config "$T/c.json" '"warmup_head_size_mb": 2' '"warmup_tail_size_mb": 1'
API=http://127.0.0.1:$GS_API_PORT
URL=http://127.0.0.1:$GS_STREAM_PORT
: > "$T/acked"; : > "$T/streamed"; : > "$T/bad"
BG=()

url_of() { local t=${NAMES[$1]%.mkv}; echo "$URL/movies/$t%20%282003%29.mkv"; }
# check_range N OFF LEN TAG: bytes OFF..OFF+LEN-1 of title N equal the source's; a
# failed transfer (the daemon killed) is not a mismatch, but must not be partial-wrong
check_range() {
	local f=$T/r.$4 rc=0
	curl -sf --max-time 30 -r "$2-$(($2 + $3 - 1))" -o "$f" "$(url_of "$1")" || rc=$?
	[ -s "$f" ] || return $rc
	local got; got=$(stat -c %s "$f")
	cmp -s -n "$got" "$f" <(tail -c +$(($2 + 1)) "$SRC") ||
		echo "title $1 bytes $2+$got differ from the source ($4)" >> "$T/bad"
	[ "$rc" = 0 ] && [ "$got" -lt "$3" ] && echo "title $1: $got of $3 bytes with success ($4)" >> "$T/bad"
	return $rc
}

adder() {
	local i=$1 n body out
	while :; do
		n=$((i % NT))
		body="{\"action\":\"add\",\"link\":\"$T/tor/${NAMES[$n]}.torrent\",\"title\":\"${NAMES[$n]%.mkv} (2003)\",\"category\":\"movie\",\"peers\":[\"$SEED_EP\"]}"
		out=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST "$API/torrents" -d "$body") ||
			return 0
		[ "$out" = 200 ] && echo "${HASHES[$n]}" >> "$T/acked"
		i=$((i + 1))
	done
}
streamer() {
	local n=$1 k=0
	while [ $k -lt 4 ]; do
		echo "$n" >> "$T/streamed"
		check_range "$n" 0 $((2 << 20)) "s$1" || return 0
		check_range "$n" $((SIZE - (1 << 20))) $((1 << 20)) "t$1" || return 0
		n=$(( (n + 2) % NT )); k=$((k + 1))
	done
}

next_add=0
start_s=$(date +%s)
for ((round = 1; round <= FAULT_KILLS; round++)); do
	gs_start run --config "$T/c.json"
	gs_wait_ready "" 30
	# -- verify what the previous kills left
	grep -Eq "catalog: [0-9]+ record\(s\) loaded .* 0 moved aside as corrupt" "$T/gs.log" ||
		fail "round $round: $(grep 'catalog:' "$T/gs.log" | head -2)"
	list=$(curl -sf --max-time 30 -X POST "$API/torrents" -d '{"action":"list"}') ||
		fail "round $round: list"
	for h in $(sort -u "$T/acked"); do
		case $list in *"$h"*) ;; *) fail "round $round: acknowledged add $h lost" ;; esac
	done
	ok
	[ "$(find "$T/state" -name '*.tmp' | wc -l)" = 0 ] || fail "round $round: temp files after open"
	for n in $(sort -u "$T/streamed") $((RANDOM % NT)) $((RANDOM % NT)); do
		case $list in *"${HASHES[$n]}"*) ;; *) continue ;; esac
		check_range "$n" 0 $((2 << 20)) "v$round" || fail "round $round: reading title $n head failed"
		check_range "$n" $((SIZE - (1 << 20))) $((1 << 20)) "v$round" ||
			fail "round $round: reading title $n tail failed"
	done
	[ -s "$T/bad" ] && fail "round $round: $(head -3 "$T/bad")"
	ok
	: > "$T/streamed"
	# -- load, then kill -9 at a random moment
	adder "$next_add" & BG+=("$!")
	streamer $(( (round * 5) % NT )) & BG+=("$!")
	streamer $(( (round * 5 + 1) % NT )) & BG+=("$!")
	sleep "0.$(( 2 + RANDOM % 8 ))$((RANDOM % 10))"
	[ $((RANDOM % 3)) = 0 ] && sleep 0.5
	kill -KILL "$GS_PID" || fail "round $round: gostream died by itself"
	wait "$GS_PID" 2>/dev/null
	for p in "${BG[@]}"; do wait "$p" 2>/dev/null; done
	BG=()
	[ -s "$T/bad" ] && fail "round $round (during load): $(head -3 "$T/bad")"
	next_add=$(( $(wc -l < "$T/acked") + round ))
done
acked=$(sort -u "$T/acked" | wc -l)
gs_start run --config "$T/c.json"
gs_wait_ready "" 30
list=$(curl -sf --max-time 30 -X POST "$API/torrents" -d '{"action":"list"}') || fail "final list"
for h in $(sort -u "$T/acked"); do
	case $list in *"$h"*) ;; *) fail "final: acknowledged add $h lost" ;; esac
done
ok
metrics
note "$FAULT_KILLS kill -9 rounds in $(( $(date +%s) - start_s )) s: $(wc -l < "$T/acked") adds acknowledged ($acked titles), all present; warmup $(mq "j.get('warmup_bytes')") bytes on disk, $(mq "j.get('warmup_corrupt_chunks')") chunks dropped at open by their checksum; every byte read exact"
gs_stop TERM 15
note "$checks checks"
