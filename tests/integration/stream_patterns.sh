#!/usr/bin/env bash
# stream_patterns.sh - the stream layer over the real engine and a loopback seeder:
# byte-exact sequential, random, seek/backward-seek and tail-probe reads; a restart whose
# warm head+tail probe makes zero peer connections and wakes nothing; a warmup file
# corrupted on purpose is never served; memory stays within the budgets with 4 readers.
. "$TOP_SRCDIR/tests/lib/common.sh"
gs_need_swarm
DRIVER="$TOP_BUILDDIR/tests/integration/stream_driver"
[ -x "$DRIVER" ] || fail "stream_driver not built"

mkdir -p "$T/data"
"$MKMEDIA" "$T/data/film.mkv" 64 || fail "mkmedia"
gs_make_torrent "$T/data/film.mkv" 1024 "$T/film.torrent" > /dev/null
gs_seed 127.0.0.4 "$T/data" "$T/film.torrent"
PP=$(gs_free_port)
drv() { timeout 120 "$DRIVER" --state "$T/state" --source "$T/data/film.mkv" --peer-port "$PP" \
	--head-mb 8 --tail-mb 16 "$@" 2> "$T/drv.err"
	local rc=$?
	! grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$T/drv.err" ||
		{ echo "sanitizer report from stream_driver" >&2; return 1; }
	return "$rc"; }

out=$(drv --torrent "$T/film.torrent" --peer "$SEED_EP" probe seq:131072 random:200:42 seek flush) ||
	fail "reads through the stream layer: $(cat "$T/drv.err") $out"
note "cold run: $out"
expect_eq "cold failures" "$(json_get "$out" failures)" 0
[ "$(json_get "$out" seeks)" -ge 2 ] || fail "seeks not detected: $out"; ok
[ "$(json_get "$out" probes)" -ge 2 ] || fail "probes not classified: $out"; ok
[ "$(json_get "$out" pump_bytes)" -gt 0 ] || fail "the pump never ran: $out"; ok
[ "$(json_get "$out" warmup_bytes)" -gt $((20 << 20)) ] || fail "warmup not filled: $out"; ok

# Restart: a warm head + tail probe must not wake the torrent or touch the swarm.
out=$(drv probe) || fail "warm probe: $(cat "$T/drv.err")"
note "warm run: $out"
expect_eq "warm activations" "$(json_get "$out" activations)" 0
expect_eq "warm peer connections" "$(json_get "$out" peer_connections)" 0
expect_eq "warm engine bytes" "$(json_get "$out" engine_bytes)" 0
[ "$(json_get "$out" warmup_hit_bytes)" -ge $((17 << 20)) ] || fail "warm probe not from SSD"; ok

# Corrupt the warmup file in place: the bytes read must still be right, and the
# corruption is detected and counted, not served.
wu=$(ls "$T/state/warmup/"*.wu | head -n1)
[ -f "$wu" ] || fail "no warmup file"
size=$(stat -c %s "$wu")
"$PY" - "$wu" "$size" <<'PYEOF'
import sys
path, size = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    for off in range(size // 2, size - 4096, 1 << 20):   # data region, every MiB
        f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0xff]))
PYEOF
out=$(drv --peer "$SEED_EP" probe) || fail "probe after corruption: $(cat "$T/drv.err") $out"
note "after corruption: $out"
expect_eq "corrupt failures" "$(json_get "$out" failures)" 0
[ "$(json_get "$out" warmup_corrupt)" -ge 1 ] || fail "corruption not detected: $out"; ok

# Four readers at once: RSS growth stays within RAM budget + engine cache + 64 MiB.
out=$(drv --peer "$SEED_EP" --ram-mb 32 --cache-mb 32 parallel:4) || fail "parallel: $(cat "$T/drv.err")"
note "parallel: $out"
expect_eq "parallel failures" "$(json_get "$out" failures)" 0
grow=$(( $(json_get "$out" rss_peak_kb) - $(json_get "$out" rss_start_kb) ))
limit=$(( (32 + 32 + 64) * 1024 ))
note "RSS growth ${grow} KiB, limit ${limit} KiB"
# AddressSanitizer's quarantine keeps freed blocks resident: the bound holds for real builds
if ldd "$DRIVER" 2>/dev/null | grep -q libasan; then
	note "sanitizer build: RSS bound not checked"
else
	[ "$grow" -le "$limit" ] || fail "RSS grew ${grow} KiB > ${limit} KiB"; ok
fi
note "$checks checks"
