#!/bin/bash
# engine_evict.sh - a 256 MB file through a 32 MB piece store: read end to end with the
# resident memory of the engine process (from /proc, sampled every 50 ms) staying under
# CacheSize + 64 MB above its baseline; the store never holds more than its cap plus a
# little in-flight slack; then the beginning, long evicted, is read again: libtorrent is
# made to fetch it again (a reload, see bt.h) and the bytes are right.
set -u
. "$(dirname "$0")/../lib/bt_testlib.sh"

SIZE=$((256 * 1048576))
CACHE_MB=32
mkdir -p "$T/data"
head -c "$SIZE" /dev/urandom > "$T/data/big.bin"
bt_make_torrent "$T/data/big.bin" 1024 "$T/big.torrent" > /dev/null
bt_seed 127.0.0.5 "$T/data" "$T/big.torrent"

bt_ranges "$SIZE" 20 1048576 3 "$T/ranges.txt"
bt_expected "$T/data/big.bin" "$T/ranges.txt" "$T/ranges.want"
bt_run "$T/r.json" --cache-mb "$CACHE_MB" --readahead-mb 8 --peer "$SEED_EP" "$T/big.torrent" \
	"whole:$T/big.out" "head:8000000:$T/head.out" "ranges:$T/ranges.txt:$T/ranges.out" ||
	{ cat "$T/r.json" "$T/r.json.err" >&2; bt_fail "driver reported a failed op"; }
[ "$(bt_sha "$T/big.out")" = "$(bt_sha "$T/data/big.bin")" ] || bt_fail "whole file differs"
cmp -s "$T/head.out" <(head -c 8000000 "$T/data/big.bin") || bt_fail "re-read of the head differs"
[ "$(bt_sha "$T/ranges.out")" = "$(bt_sha "$T/ranges.want")" ] || bt_fail "ranges after eviction differ"
rm -f "$T/big.out"

bt_expect "$T/r.json" 'j["counters"]["evictions"] > 200' "pieces were not evicted"
bt_expect "$T/r.json" 'j["counters"]["reloads"] >= 1' "no reload for the evicted head"
bt_expect "$T/r.json" "j['counters']['store_peak'] <= ($CACHE_MB + 4) * 1048576" \
	"store grew past its cap"
bt_expect_rss "$T/r.json" "$((CACHE_MB + 64))" "(CacheSize + 64 MB)"
bt_note "RSS baseline $(bt_json "$T/r.json" 'j["rss_base_kb"] // 1024') MB, peak" \
	"$(bt_json "$T/r.json" 'j["rss_max_kb"] // 1024') MB; store peak" \
	"$(bt_json "$T/r.json" 'j["counters"]["store_peak"] // 1048576') MB of $CACHE_MB;" \
	"$(bt_json "$T/r.json" 'j["ops"][2]["mb_s"]') MB/s; evicted head re-read first byte" \
	"$(bt_json "$T/r.json" 'j["ops"][3]["first_byte_ms"]') ms"
echo "PASS: engine_evict"
