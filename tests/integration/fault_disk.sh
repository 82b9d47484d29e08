#!/usr/bin/env bash
# fault_disk.sh - a full disk and a read-only state dir (issue 18, faults). The state dir
# is a 32 MiB tmpfs that this test mounts (and unmounts). With it full (a filler file):
# an add answers 507 naming "No space left", the warmup logs its failed writes (at most
# one line per 10 s), and titles stream byte-exact from the swarm and RAM; once space is
# back an add works again. Read-only (the tmpfs remounted so, the daemon restarted on it,
# as a remount cannot happen under its open warmup files): add, set and rem answer 500
# naming "Read-only file system", the warmup logs it, streaming goes on byte-exact. Back
# read-write, a restart finds every title whose add answered 200, no temp file, nothing
# moved aside as corrupt.
. "$TOP_SRCDIR/tests/lib/common.sh"
[ "$(id -u)" = 0 ] || skip "needs root (mounts a tmpfs as the state dir)"
gs_need_swarm
BENCH_PY="$TOP_SRCDIR/tests/bench/bench.py"
ST=$T/state
MOUNTED=
GS_CLEANUPS+=('[ -n "$MOUNTED" ] && { kill -KILL "$GS_PID" 2>/dev/null; sleep 0.2; umount "$ST" || umount -l "$ST"; }')

mkdir -p "$T/data" "$T/tor" "$ST"
mount -t tmpfs -o size=32m,mode=0755 gs-fault-disk "$ST" || skip "cannot mount a tmpfs here"
MOUNTED=1
"$MKMEDIA" "$T/data/film.mkv" 16 || fail "mkmedia"
SRC=$T/data/film.mkv
SIZE=$(stat -c %s "$SRC")
gs_make_torrent "$SRC" 1024 "$T/film.torrent" > /dev/null
"$PY" "$BENCH_PY" clone-torrents "$T/film.torrent" "$SRC" "$T/tor" "$T/data" d 5 > /dev/null ||
	fail "clone-torrents"
mapfile -t TORS < <(ls "$T"/tor/*.torrent)
gs_seed 127.0.0.85 "$T/data" "${TORS[@]}"

# The warmup wants 4+1 MiB per title: more than the tmpfs holds for several titles.
gs_config "$T/c.json" '"warmup_head_size_mb": 4' '"warmup_tail_size_mb": 1'
gs_start run --config "$T/c.json"
gs_wait_ready
API=http://127.0.0.1:$GS_API_PORT
ACKED=()

# add N -> STATUS and BODY
add() {
	local out
	out=$(curl -s -w '\n%{http_code}' --max-time 30 -X POST "$API/torrents" \
		-d "{\"action\":\"add\",\"link\":\"${TORS[$1]}\",\"title\":\"Disk $1 (2002)\",\"category\":\"movie\",\"peers\":[\"$SEED_EP\"]}")
	STATUS=$(tail -n1 <<< "$out"); BODY=$(head -n1 <<< "$out")
	[ "$STATUS" = 200 ] && ACKED+=("$(json_get "$BODY" hash)")
	return 0
}
api() {
	local out
	out=$(curl -s -w '\n%{http_code}' --max-time 30 -X POST "$API/torrents" -d "$1")
	STATUS=$(tail -n1 <<< "$out"); BODY=$(head -n1 <<< "$out")
}
# stream N: the whole title over HTTP, byte-exact
stream() {
	curl -sf --max-time 60 -o "$T/got" "http://127.0.0.1:$GS_STREAM_PORT/movies/Disk%20$1%20%282002%29.mkv" ||
		fail "streaming title $1 failed ($2)"
	cmp -s "$T/got" "$SRC" || fail "title $1: bytes differ from the source ($2)"
	ok
}

add 0; expect_eq "add on a free disk" "$STATUS" 200
add 4; expect_eq "add on a free disk" "$STATUS" 200
stream 0 "free disk"

# -- disk full
dd if=/dev/zero of="$ST/filler" bs=64k 2>/dev/null
dd if=/dev/zero of="$ST/filler2" bs=512 2>/dev/null
note "state dir full: $(df -k "$ST" | awk 'NR==2{print $4}') KiB left"
add 1
expect_eq "add on a full disk: status" "$STATUS" 507
expect_match "add on a full disk: reason" "$BODY" "No space left"
note "full disk add: $STATUS $BODY"
# title 4 was never read: each of its warmup writes fails; it streams from the swarm
stream 4 "disk full, warmup failing"
stream 0 "disk full"
metrics
note "warmup write errors on the full disk: $(mq "j.get('warmup_write_errors')")"
grep -Eq "warmup: .*No space left on device" "$T/gs.log" ||
	fail "no log line for the warmup's failed writes on a full disk"; ok
# ... but not one per failed write: at most one per 10 s
nw=$(grep -Ec "warmup: (cannot (open|create)|writing) " "$T/gs.log")
note "warmup failure lines in the log on the full disk: $nw"
[ "$nw" -le 4 ] || fail "the warmup logged $nw write failures: not rate-limited"; ok
rm -f "$ST/filler" "$ST/filler2"
add 1; expect_eq "add once space is back" "$STATUS" 200
stream 1 "space back"
add 2; expect_eq "add once space is back" "$STATUS" 200

# -- read-only
# (a tmpfs cannot be remounted read-only while the daemon holds warmup files open for
# writing: stop it, remount, start it on the read-only state dir)
gs_stop TERM 15
mount -o remount,ro "$ST" || fail "remount read-only"
gs_start run --config "$T/c.json"
gs_wait_ready
add 3
expect_eq "add on a read-only state dir: status" "$STATUS" 500
expect_match "add on a read-only state dir: reason" "$BODY" "Read-only file system"
note "read-only add: $STATUS $BODY"
api "{\"action\":\"set\",\"hash\":\"${ACKED[0]}\",\"title\":\"Renamed (2002)\"}"
expect_eq "set on a read-only state dir" "$STATUS" 500
expect_match "set on a read-only state dir: reason" "$BODY" "Read-only file system"
api "{\"action\":\"rem\",\"hash\":\"${ACKED[0]}\"}"
expect_eq "rem on a read-only state dir" "$STATUS" 500
expect_match "rem on a read-only state dir: reason" "$BODY" "Read-only file system"
# title 2 was never read: every warmup write fails, streaming goes on
stream 2 "read-only, warmup failing"
stream 0 "read-only"
grep -Eq "warmup: .*Read-only file system" "$T/gs.log" ||
	fail "no log line for the warmup's failed writes on a read-only state dir"; ok
metrics
note "warmup write errors now: $(mq "j.get('warmup_write_errors')")"
mount -o remount,rw "$ST" || fail "remount read-write"

# -- restart: every acknowledged add is there, nothing torn
gs_stop TERM 15
nrec=$(ls "$ST/catalog" | grep -c '\.rec$')
ntmp=$(find "$ST" -name '*.tmp' | wc -l)
note "catalog: $nrec records, $ntmp temp files; acknowledged adds: ${#ACKED[@]}"
gs_start run --config "$T/c.json"
gs_wait_ready
grep -q "0 moved aside as corrupt" "$T/gs.log" || fail "records moved aside: $(grep catalog: "$T/gs.log")"; ok
api '{"action":"list"}'
for h in "${ACKED[@]}"; do
	expect_match "acknowledged add $h listed after restart" "$BODY" "$h"
done
expect_eq "temp files after restart" "$(find "$ST" -name '*.tmp' | wc -l)" 0
for n in 0 1 2 4; do stream $n "after restart"; done
gs_stop TERM 15
note "$checks checks"
