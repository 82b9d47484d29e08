#!/usr/bin/env bash
# warmup_crash.sh - the SSD warmup cache survives kill -9: a driver writing warmup data
# nonstop is SIGKILLed at a random moment, 5 times; after each kill the folder is reopened
# and every byte served is compared with the content it must have (a function of file and
# offset, independent of the cache's own checksums). Between rounds the script also tears
# files the way a power cut would (truncation, lost blocks, garbage over metadata), which a
# process kill alone cannot. A negative control (wrong bytes stored with valid checksums)
# must make the verifier fail, so a torn chunk served would fail this test.
# Needs the warmup_driver program: $WARMUP_DRIVER, else $TOP_BUILDDIR/tests/integration/.
set -u

DRIVER=${WARMUP_DRIVER:-${TOP_BUILDDIR:-.}/tests/integration/warmup_driver}
T=$(mktemp -d /tmp/gs-warmup-crash.XXXXXX)
PID=
cleanup() {
	[ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

[ -x "$DRIVER" ] || fail "driver $DRIVER not built"
W=$T/warmup

# tear FILE: one kind of damage a crash of the machine could leave
tear() {
	local f=$1 size kind
	size=$(stat -c %s "$f")
	kind=$((RANDOM % 4))
	case $kind in
	0) truncate -s $(( (RANDOM * 32768 + RANDOM) % size )) "$f"
	   note "torn: truncated $(basename "$f")" ;;
	1) dd if=/dev/zero of="$f" bs=4096 seek=$(( (RANDOM * 32768 + RANDOM) % (size / 4096 + 1) )) \
		count=1 conv=notrunc status=none
	   note "torn: a 4 KiB block of $(basename "$f") lost (zeros)" ;;
	2) dd if=/dev/urandom of="$f" bs=16 seek=$(( 256 + RANDOM % 64 )) count=2 conv=notrunc \
		status=none
	   note "torn: garbage over records of $(basename "$f")" ;;
	3) dd if=/dev/urandom of="$f" bs=1 seek=$(( (RANDOM * 32768 + RANDOM) % size )) count=1 \
		conv=notrunc status=none
	   note "torn: one random byte of $(basename "$f")" ;;
	esac
}

served_total=0
for round in 1 2 3 4 5; do
	# Emptied here, not only by the child's redirection: that may run after the first
	# grep below, which would then see the last round's "ready".
	: > "$T/out"
	"$DRIVER" write "$W" "$round$RANDOM" > "$T/out" 2> "$T/err" &
	PID=$!
	# 120 s: opening fsyncs, slow when another job fills the disk (seen over 60 s in an
	# ASan build on a loaded machine).
	for ((i = 0; i < 2400; i++)); do
		grep -q ready "$T/out" 2>/dev/null && break
		kill -0 "$PID" 2>/dev/null || { cat "$T/err" >&2; fail "driver died before ready"; }
		sleep 0.05
	done
	grep -q ready "$T/out" || fail "driver not ready after 120 s"
	# a random moment: 0.1 .. 1.6 s of writing
	sleep "$(( RANDOM % 16 / 10 )).$(( RANDOM % 10 ))"
	kill -0 "$PID" 2>/dev/null || { cat "$T/err" >&2; fail "driver stopped on its own"; }
	kill -KILL "$PID"
	wait "$PID" 2>/dev/null
	st=$?
	PID=
	[ "$st" = 137 ] || fail "round $round: driver exit status $st, want 137 (SIGKILL)"

	if [ "$round" -ge 2 ]; then
		mapfile -t files < <(ls "$W"/*.wu 2>/dev/null)
		for ((j = 0; j < round && ${#files[@]} > 0; j++)); do
			tear "${files[$((RANDOM % ${#files[@]}))]}"
		done
	fi
	out=$("$DRIVER" verify "$W" 2> "$T/verr")
	st=$?
	note "round $round: $out"
	[ "$st" = 0 ] || { cat "$T/verr" >&2; fail "round $round: verify failed (status $st)"; }
	n=$(printf '%s' "$out" | sed -n 's/.* \([0-9]*\) chunks served.*/\1/p')
	served_total=$((served_total + ${n:-0}))
done
[ "$served_total" -gt 0 ] || fail "nothing was ever served: the test proved nothing"

# Negative control on a copy: wrong bytes behind valid checksums must be caught.
cp -a "$W" "$T/forged"
"$DRIVER" forge "$T/forged" 2> "$T/ferr" || { cat "$T/ferr" >&2; fail "forge step failed"; }
if "$DRIVER" verify "$T/forged" > "$T/fout" 2>&1; then
	cat "$T/fout" >&2
	fail "verifier accepted forged data"
fi
note "negative control: forged chunks detected by the verifier"
note "5 kill -9 rounds, $served_total chunks verified byte-exact"
exit 0
