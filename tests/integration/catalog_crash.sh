#!/bin/sh
# catalog_crash.sh - the catalog survives kill -9 during rapid adds (issue 3, "Catalog").
# Each round starts catalog_driver adding 50 records (2 MiB info dicts, so a kill often
# lands inside a write), kill -9's it once K records are acknowledged (K differs per
# round), then re-opens the catalog and checks: every record acknowledged so far, in any
# round, is present and intact (metadata and info dict byte for byte); every record it
# loaded is intact; no temp file survives the re-open; nothing had to be moved aside as
# corrupt (our writes are atomic, so a .corrupt file here would be a bug).
# Later rounds replace the records of earlier ones, so kills also land inside replaces.
# The driver is $CATALOG_DRIVER, else tests/integration/catalog_driver under $BUILD_DIR
# (default: the current directory, where make check runs), else next to this script.
set -u

fail() { echo "FAIL: $*" >&2; exit 1; }

driver=${CATALOG_DRIVER:-}
if [ -z "$driver" ]; then
	for d in "${BUILD_DIR:-.}/tests/integration/catalog_driver" "$(dirname "$0")/catalog_driver"; do
		if [ -x "$d" ]; then
			driver=$d
			break
		fi
	done
fi
if [ -z "$driver" ] || [ ! -x "$driver" ]; then
	# A hard error (99), not a skip: the driver is part of every build.
	echo "catalog_crash.sh: catalog_driver not built (set CATALOG_DRIVER)" >&2
	exit 99
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/catalog_crash.XXXXXX")
pid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

dir=$work/catalog
info=2097152
count=50
: > "$work/acked.all"
killed_midway=0

for round in 1 2 3 4 5 6; do
	k=$((3 + (round - 1) * 8))
	out=$work/acked.$round
	: > "$out"
	"$driver" add "$dir" $count $info > "$out" 2> "$work/driver.err" &
	pid=$!
	while kill -0 "$pid" 2>/dev/null && [ "$(wc -l < "$out")" -lt $k ]; do
		sleep 0.001
	done
	# A few ms more, different per round, so some kills land inside a write.
	sleep 0.00$(( (round * 3) % 10 ))
	kill -9 "$pid" 2>/dev/null
	wait "$pid"
	status=$?
	pid=
	acked=$(wc -l < "$out")
	tmps=$(find "$dir" -name '*.tmp' | wc -l)
	if [ "$status" -eq 137 ] && [ "$acked" -ge $k ] && [ "$acked" -lt $count ]; then
		killed_midway=$((killed_midway + 1))
	elif [ "$status" -ne 0 ] && [ "$status" -ne 137 ]; then
		cat "$work/driver.err" >&2
		fail "round $round: driver exited with $status"
	elif [ "$status" -eq 137 ] && [ "$acked" -lt $k ]; then
		cat "$work/driver.err" >&2
		fail "round $round: driver stopped after $acked acknowledged puts"
	fi
	cat "$out" >> "$work/acked.all"

	"$driver" verify "$dir" "$work/acked.all" $info > "$work/verify.out" 2> "$work/verify.err" ||
		{ cat "$work/verify.err" >&2; fail "round $round: verify failed"; }
	echo "round $round: killed after $acked acknowledged puts (status $status," \
		"$tmps temp file(s) left by the kill); re-open: $(cat "$work/verify.out")"
	[ "$(find "$dir" -name '*.tmp' | wc -l)" -eq 0 ] || fail "round $round: temp files survive re-open"
	[ "$(find "$dir" -name '*.corrupt' | wc -l)" -eq 0 ] || fail "round $round: a record was found corrupt"
done

[ $killed_midway -gt 0 ] || fail "the driver always finished before the kill: nothing was tested"
echo "catalog_crash.sh: $killed_midway of 6 rounds killed mid-way; all acknowledged records intact"
exit 0
