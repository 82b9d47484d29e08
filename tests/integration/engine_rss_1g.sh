#!/bin/bash
# engine_rss_1g.sh - a 1 GiB file (4 MiB pieces) read end to end from a loopback seeder
# through the default 64 MB piece store: the bytes are right, the store never holds more
# than its cap plus the in-flight slack, and the engine process's resident memory (from
# /proc, sampled every 50 ms) stays under CacheSize + 64 MB above its baseline: 1 GiB of
# payload went through and none of it stayed. Then the beginning, long evicted, is read
# again: fetched from the seeder again (a reload, see bt.h) and right.
set -u
. "$(dirname "$0")/../lib/bt_testlib.sh"

SIZE=$((1024 * 1048576))
CACHE_MB=64
mkdir -p "$T/data"
head -c "$SIZE" /dev/urandom > "$T/data/film.bin" || bt_fail "cannot write 1 GiB of test data"
bt_make_torrent "$T/data/film.bin" 4096 "$T/film.torrent" > /dev/null
bt_seed 127.0.0.6 "$T/data" "$T/film.torrent"

bt_run "$T/r.json" --cache-mb "$CACHE_MB" --chunk 1048576 --peer "$SEED_EP" "$T/film.torrent" \
	"whole:$T/film.out" "head:8000000:$T/head.out" ||
	{ cat "$T/r.json" "$T/r.json.err" >&2; bt_fail "driver reported a failed op"; }
[ "$(bt_sha "$T/film.out")" = "$(bt_sha "$T/data/film.bin")" ] || bt_fail "the 1 GiB read differs"
rm -f "$T/film.out"
cmp -s "$T/head.out" <(head -c 8000000 "$T/data/film.bin") || bt_fail "re-read of the evicted head differs"
bt_expect "$T/r.json" 'j["counters"]["reloads"] >= 1' "the evicted head was not fetched again (no reload)"

bt_expect "$T/r.json" 'j["counters"]["bytes_read"] == '"$((SIZE + 8000000))" "not every byte came through bt_read"
bt_expect "$T/r.json" 'j["counters"]["evictions"] > 200' "pieces were not evicted"
# Past the cap only blocks already requested when it filled: a partial piece cannot be
# evicted, and libtorrent keeps up to the peer's request queue in flight (the seeder says
# reqq 2000 blocks = 32 MiB); the store then stops reading from that peer (back-pressure).
bt_expect "$T/r.json" "j['counters']['store_peak'] <= ($CACHE_MB + 32) * 1048576" \
	"store grew past its cap"
bt_expect_rss "$T/r.json" "$((CACHE_MB + 64))" "(CacheSize + 64 MB) reading 1 GiB"
bt_note "1 GiB: RSS baseline $(bt_json "$T/r.json" 'j["rss_base_kb"] // 1024') MB, peak" \
	"$(bt_json "$T/r.json" 'j["rss_max_kb"] // 1024') MB; store peak" \
	"$(bt_json "$T/r.json" 'j["counters"]["store_peak"] // 1048576') MB of $CACHE_MB;" \
	"$(bt_json "$T/r.json" 'j["ops"][2]["mb_s"]') MB/s; evicted head again: first byte" \
	"$(bt_json "$T/r.json" 'j["ops"][3]["first_byte_ms"]') ms"
echo "PASS: engine_rss_1g"
