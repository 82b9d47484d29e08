#!/bin/bash
# engine_badinput.sh - bad input fails cleanly (exit status 1 or 2 with a message, never a
# signal): malformed magnet, garbage and truncated .torrent, unknown hash with no peer
# (metadata timeout), file index out of range, unknown path, offset past EOF (gostream cat)
# and at/past EOF (bt_read: 0 bytes, -EINVAL for a negative offset), no peers
# (-ETIMEDOUT with a clear message), usage errors.
set -u
. "$(dirname "$0")/../lib/bt_testlib.sh"

mkdir -p "$T/data"
head -c 3000000 /dev/urandom > "$T/data/a.bin"
H=$(bt_make_torrent "$T/data/a.bin" 256 "$T/a.torrent")
head -c 200 /dev/urandom > "$T/garbage.torrent"
head -c 150 "$T/a.torrent" > "$T/truncated.torrent"

# expect_cli STATUS REGEX ARGS... : gostream CLI (through the driver) exits STATUS with REGEX on stderr
expect_cli() {
	local want=$1 re=$2 rc=0
	shift 2
	timeout -k 5 60 "$BT_DRIVER" "$@" > "$T/out" 2> "$T/err" || rc=$?
	[ "$rc" = "$want" ] || { cat "$T/err" >&2; bt_fail "'$*' exited $rc, want $want"; }
	grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$T/err" &&
		{ cat "$T/err" >&2; bt_fail "sanitizer report: $*"; }
	[ -z "$re" ] || grep -Eq -- "$re" "$T/err" || { cat "$T/err" >&2; bt_fail "'$*': no /$re/ on stderr"; }
}

expect_cli 1 'malformed magnet' cat --local 'magnet:?xt=urn:btih:nothex' 0
expect_cli 1 'malformed magnet' cat --local 'magnet:?dn=nohash' 0
expect_cli 1 'not a valid .torrent' cat --local "$T/garbage.torrent" 0
expect_cli 1 'not a valid .torrent' info --local "$T/truncated.torrent"
expect_cli 1 'No such file' cat --local "$T/missing.torrent" 0
expect_cli 1 'no metadata for .* after 2 s' cat --local --timeout 2 0123456789abcdef0123456789abcdef01234567 0
expect_cli 1 'file index 7 out of range' cat --local "$T/a.torrent" 7
expect_cli 1 'no file "nope.mkv"' cat --local "$T/a.torrent" nope.mkv
expect_cli 1 'offset 3000001 is past the end' cat --local --offset 3000001 "$T/a.torrent" 0
expect_cli 1 'timed out after 2 s waiting for data at offset 0 \(0 peers' \
	cat --local --timeout 2 "$T/a.torrent" 0
expect_cli 2 'usage' cat --local "$T/a.torrent"
expect_cli 2 'unknown option' cat --frobnicate "$T/a.torrent" 0
expect_cli 2 '--offset wants' cat --offset -5 "$T/a.torrent" 0
expect_cli 2 '--peer wants' cat --peer 127.0.0.1 "$T/a.torrent" 0
# offset == size: nothing to write, success
expect_cli 0 '' cat --local --offset 3000000 "$T/a.torrent" 0
[ -s "$T/out" ] && bt_fail "cat at EOF wrote bytes"

# engine API: at EOF 0 bytes, past EOF 0 bytes, negative offset -EINVAL, no peers -ETIMEDOUT
bt_run "$T/r.json" --timeout-ms 1500 "$T/a.torrent" expect:0:3000000:10 expect:0:9000000:10 \
	expect:22:-1:10 expect:110:0:100 ||
	{ cat "$T/r.json" "$T/r.json.err" >&2; bt_fail "engine-level bad reads"; }
grep -q 'timed out after 1500 ms waiting for piece 0 (0 peers connected)' "$T/r.json.err" ||
	{ cat "$T/r.json.err" >&2; bt_fail "no clear timeout message"; }
# a file index out of range in the engine API
bt_run "$T/i.json" --file 3 "$T/a.torrent" expect:22:0:10 ||
	{ cat "$T/i.json" "$T/i.json.err" >&2; bt_fail "bad index not -EINVAL"; }
echo "PASS: engine_badinput"
