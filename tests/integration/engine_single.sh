#!/bin/bash
# engine_single.sh - one file, one loopback seeder (python3-libtorrent on 127.0.0.2):
# the whole file and 200 random ranges (many across piece boundaries, the last bytes,
# one past EOF) read through the engine are byte-identical to the source (sha256).
# A live settings change (smaller cache) and priority mode in between drop nothing.
# Reports the cold first byte and the throughput.
set -u
. "$(dirname "$0")/../lib/bt_testlib.sh"

mkdir -p "$T/data"
head -c 48000000 /dev/urandom > "$T/data/film.bin"
bt_make_torrent "$T/data/film.bin" 512 "$T/film.torrent" > /dev/null
bt_seed 127.0.0.2 "$T/data" "$T/film.torrent"

bt_ranges 48000000 200 524288 1 "$T/ranges.txt"
bt_expected "$T/data/film.bin" "$T/ranges.txt" "$T/ranges.want"
bt_run "$T/r.json" --peer "$SEED_EP" "$T/film.torrent" \
	"whole:$T/whole.out" apply:56 priority:1 "ranges:$T/ranges.txt:$T/ranges.out" ||
	{ cat "$T/r.json" "$T/r.json.err" >&2; bt_fail "driver reported a failed op"; }

[ "$(bt_sha "$T/whole.out")" = "$(bt_sha "$T/data/film.bin")" ] || bt_fail "whole file differs"
[ "$(bt_sha "$T/ranges.out")" = "$(bt_sha "$T/ranges.want")" ] || bt_fail "ranges differ"
bt_expect "$T/r.json" 'j["ops"][4]["count"] == 200 and j["ops"][4]["bad"] == 0' "200 ranges read"
# settings applied live: the torrent stayed in the session, the new cap holds
bt_expect "$T/r.json" 'j["counters"]["activations"] == 1 and j["torrent"]["active"] == 1' \
	"a live settings change dropped the torrent"
bt_expect "$T/r.json" 'j["counters"]["store_cap"] == 56 << 20 and j["counters"]["store_bytes"] <= 56 << 20' \
	"new cache size not applied"
bt_expect "$T/r.json" 'j["counters"]["metadata_fetches"] == 0' ".torrent needs no metadata fetch"
bt_expect "$T/r.json" 'j["counters"]["hash_failures"] == 0' "no hash failure from an honest seeder"
bt_note "cold first byte $(bt_json "$T/r.json" 'j["ops"][2]["first_byte_ms"]') ms," \
	"whole file $(bt_json "$T/r.json" 'j["ops"][2]["mb_s"]') MB/s," \
	"200 ranges in $(bt_json "$T/r.json" 'j["ops"][4]["ms"]') ms"
echo "PASS: engine_single"
