#!/bin/bash
# engine_shield.sh - the adaptive shield: one seeder serves corrupted copies of pieces
# 0-11 (first byte of every block flipped, declared complete so it never checks them),
# another is honest. Reading in responsive mode serves blocks before their hash check;
# the failed checks switch the torrent to strict mode (counted), the bytes read again
# afterwards are all correct, and responsive mode returns after the strict period
# (3 s here instead of 60).
set -u
. "$(dirname "$0")/../lib/bt_testlib.sh"

mkdir -p "$T/data"
head -c 20000000 /dev/urandom > "$T/data/f.bin"
bt_make_torrent "$T/data/f.bin" 512 "$T/f.torrent" > /dev/null
bt_seed 127.0.0.6 "$T/data" --corrupt 0-11 --corrupt-dir "$T/bad" "$T/f.torrent"
BAD=$SEED_EP
bt_seed 127.0.0.7 "$T/data" "$T/f.torrent"
GOOD=$SEED_EP

echo "0 20000000" > "$T/all.txt"
bt_run "$T/r.json" --strict-s 3 --peer "$BAD" --peer "$GOOD" "$T/f.torrent" \
	"whole:$T/first.out" "ranges:$T/all.txt:$T/again.out" sleep:3600 ||
	{ cat "$T/r.json" "$T/r.json.err" >&2; bt_fail "driver reported a failed op"; }
[ "$(bt_sha "$T/again.out")" = "$(bt_sha "$T/data/f.bin")" ] || bt_fail "bytes read after the shield differ"
bt_expect "$T/r.json" 'j["counters"]["hash_failures"] >= 1' "no hash failure seen"
bt_expect "$T/r.json" 'j["counters"]["strict_entries"] >= 1' "shield did not go strict"
bt_expect "$T/r.json" 'j["torrent"]["strict"] == 0' "responsive mode did not come back"
grep -q 'strict mode for 3 s' "$T/r.json.err" || bt_fail "strict mode not logged"
grep -q 'back to responsive mode' "$T/r.json.err" || bt_fail "return to responsive not logged"
if cmp -s "$T/first.out" "$T/data/f.bin"; then first=correct; else first="had corrupt bytes (served before the check)"; fi
bt_note "hash failures $(bt_json "$T/r.json" 'j["counters"]["hash_failures"]')," \
	"strict entries $(bt_json "$T/r.json" 'j["counters"]["strict_entries"]'); first pass $first"
echo "PASS: engine_shield"
