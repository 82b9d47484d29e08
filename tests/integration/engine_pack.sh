#!/bin/bash
# engine_pack.sh - a season pack (3 episodes, .nfo, Sample/, an awkward featurette name),
# 256 KiB pieces so files share pieces. Reading episode 2 (whole + 200 ranges) gives the
# right bytes, and only the pieces of that file are downloaded (the others stay at
# priority 0). A small file inside a shared piece is read correctly too.
set -u
. "$(dirname "$0")/../lib/bt_testlib.sh"

P="$T/data/Show.S01.1080p"
mkdir -p "$P/Sample" "$P/Featurettes"
head -c 21000001 /dev/urandom > "$P/Show.S01E01.mkv"
head -c 30000017 /dev/urandom > "$P/Show.S01E02.mkv"
head -c 19000003 /dev/urandom > "$P/Show.S01E03.mkv"
head -c 3333 /dev/urandom > "$P/Show.S01.nfo"
head -c 2000000 /dev/urandom > "$P/Sample/show.sample.mkv"
head -c 1500000 /dev/urandom > "$P/Featurettes/Behind the Scenes (part 1) [x264]'s.mkv"
bt_make_torrent "$P" 256 "$T/pack.torrent" > /dev/null
bt_seed 127.0.0.3 "$T/data" "$T/pack.torrent"

# file order inside the torrent: seeder.py sorts paths
"$BT_DRIVER" info --local "$T/pack.torrent" > "$T/info.txt" || bt_fail "info failed"
idx=$(awk '/Show.S01E02.mkv/{print $1}' "$T/info.txt")
nfo=$(awk '/Show.S01.nfo/{print $1}' "$T/info.txt")
[ -n "$idx" ] && [ -n "$nfo" ] || { cat "$T/info.txt" >&2; bt_fail "files not listed"; }

bt_ranges 30000017 200 262144 2 "$T/ranges.txt"
bt_expected "$P/Show.S01E02.mkv" "$T/ranges.txt" "$T/ranges.want"
bt_run "$T/r.json" --file "$idx" --peer "$SEED_EP" "$T/pack.torrent" \
	"whole:$T/ep2.out" "ranges:$T/ranges.txt:$T/ranges.out" ||
	{ cat "$T/r.json" "$T/r.json.err" >&2; bt_fail "driver reported a failed op"; }
[ "$(bt_sha "$T/ep2.out")" = "$(bt_sha "$P/Show.S01E02.mkv")" ] || bt_fail "episode 2 differs"
[ "$(bt_sha "$T/ranges.out")" = "$(bt_sha "$T/ranges.want")" ] || bt_fail "ranges differ"
# episode 2 spans ceil(30000017 / 262144) + 1 pieces at most
bt_expect "$T/r.json" 'j["torrent"]["pieces_have"] <= 30000017 // 262144 + 2' \
	"pieces of other files were downloaded"
bt_expect "$T/r.json" 'j["torrent"]["total_download"] <= (30000017 // 262144 + 2) * 262144' \
	"more bytes downloaded than episode 2's pieces"

bt_run "$T/n.json" --file "$nfo" --peer "$SEED_EP" "$T/pack.torrent" "whole:$T/nfo.out" ||
	{ cat "$T/n.json" "$T/n.json.err" >&2; bt_fail "reading the .nfo failed"; }
cmp -s "$T/nfo.out" "$P/Show.S01.nfo" || bt_fail ".nfo differs"
bt_expect "$T/n.json" 'j["torrent"]["pieces_have"] <= 2' "a 3 KB file needs at most 2 pieces"

# the CLI: FILE given as a path inside the torrent
"$BT_DRIVER" cat --local --peer "$SEED_EP" --offset 100 --length 1000000 "$T/pack.torrent" \
	"Featurettes/Behind the Scenes (part 1) [x264]'s.mkv" > "$T/feat.out" || bt_fail "cat by path"
cmp -s "$T/feat.out" <(tail -c +101 "$P/Featurettes/Behind the Scenes (part 1) [x264]'s.mkv" | head -c 1000000) ||
	bt_fail "cat by path differs"
bt_note "episode 2: $(bt_json "$T/r.json" 'j["torrent"]["pieces_have"]') of" \
	"$(bt_json "$T/r.json" 'j["torrent"]["num_pieces"]') pieces downloaded"
echo "PASS: engine_pack"
