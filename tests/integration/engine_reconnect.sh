#!/bin/bash
# engine_reconnect.sh - the only seeder goes away mid-stream and comes back on the same
# address: the next read must get its bytes from the new seeder within seconds, not wait
# out libtorrent's reconnect back-off (by default 60 s times the peer's failure count; the
# engine sets 2 s). Besides, when a reader waits with no peer connected the engine re-adds
# the torrent with its known peers (peer_kicks in the counters): libtorrent 2.0.8 keeps a
# seed that closed on a "finished" torrent out of its connect candidates for good.
set -u
. "$(dirname "$0")/../lib/bt_testlib.sh"

SIZE=$((64 * 1048576))
mkdir -p "$T/data"
head -c "$SIZE" /dev/urandom > "$T/data/film.bin"
bt_make_torrent "$T/data/film.bin" 1024 "$T/film.torrent" > /dev/null
bt_seed 127.0.0.7 "$T/data" "$T/film.torrent"
first_ep=$SEED_EP first_pid=${BT_PIDS[${#BT_PIDS[@]}-1]}

printf '%s\n' "$((40 * 1048576 + 12345)) 3000000" "$((60 * 1048576)) 1048576" > "$T/ranges.txt"
bt_expected "$T/data/film.bin" "$T/ranges.txt" "$T/ranges.want"
# head, then the seeder is stopped (SIGTERM, waited for) and at once a read of a piece
# nobody has fetched yet: it waits while the test starts the new seeder
bt_run "$T/r.json" --timeout-ms 20000 --readahead-mb 4 --peer "$first_ep" "$T/film.torrent" \
	"head:4000000:$T/head.out" "kill:$first_pid" \
	"read:$((30 * 1048576)):65536" "ranges:$T/ranges.txt:$T/ranges.out" &
drv=$!
for ((i = 0; i < 200; i++)); do
	kill -0 "$first_pid" 2>/dev/null || break
	sleep 0.05
done
kill -0 "$first_pid" 2>/dev/null && bt_fail "the driver did not stop the first seeder"
bt_forget_pid "$first_pid"
# the same torrent seeded again on the same address, by a new process
bt_seed 127.0.0.7 "$T/data" --bind "$first_ep" "$T/film.torrent"
[ "$SEED_EP" = "$first_ep" ] || bt_fail "second seeder on $SEED_EP, not $first_ep"
wait "$drv" || { cat "$T/r.json" "$T/r.json.err" >&2; bt_fail "driver reported a failed op"; }

cmp -s "$T/head.out" <(head -c 4000000 "$T/data/film.bin") || bt_fail "head differs"
cmp -s "$T/ranges.out" "$T/ranges.want" || bt_fail "ranges read from the second seeder differ"
bt_expect "$T/r.json" 'j["ops"][4]["first_byte_ms"] < 8000' \
	"first byte after the seeder came back took $(bt_json "$T/r.json" 'j["ops"][4]["first_byte_ms"]') ms"
bt_note "first byte after the seeder came back: $(bt_json "$T/r.json" 'j["ops"][4]["first_byte_ms"]') ms;" \
	"kicks $(bt_json "$T/r.json" 'j["counters"]["peer_kicks"]'), connections" \
	"$(bt_json "$T/r.json" 'j["counters"]["peer_connections"]')"
# The kick's log line reports the reader's own wait (it began at most the driver's 20 s
# timeout ago), not time since some older event.
line=$(grep -m1 "re-adding the torrent" "$T/r.json.err") || bt_fail "no re-add line in the engine log"
waited=$(printf '%s' "$line" | sed -n 's/.*a reader has waited \([0-9]*\) ms.*/\1/p')
[ -n "$waited" ] && [ "$waited" -le 20000 ] || bt_fail "bad wait figure in: $line"
bt_note "log: ${line#*bt: }"
echo "PASS: engine_reconnect"
