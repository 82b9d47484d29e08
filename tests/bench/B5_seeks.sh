#!/usr/bin/env bash
# B5 - 50 seeks to random uncached offsets while streaming a 1 GiB file from one loopback
# seeder (each a fresh title): stream 4 MiB from the start, then 50 times jump to an offset
# not read before (outside the warmup head/tail windows, >= 8 MiB from every earlier read,
# taken in descending order so no forward read-ahead of an earlier seek covers it), time
# the first 64 KiB there, and stream 2 MiB on from it. Over HTTP each seek is a new
# connection asking `Range: bytes=N-` (what players do); through the FUSE mount and btfs
# it is pread on one open file. Reference: btfs, same seeder, same offsets; btfs fetches
# the whole torrent in the background at swarm speed, so most of its seeks find the data
# already on its disk (under_5ms in the raw figures says how many).
# Target: p50 < 100 ms, p99 < 500 ms.
. "$(dirname "$0")/lib.sh"
gsb_prepare
: "${BENCH_B5_SEEKS:=50}"
gsb_titles b5_ 3
ls "$T"/tor/*.torrent > "$T/seed.list"
gsb_seed 127.0.0.2 --list "$T/seed.list"
GSB_FUSE=1 gsb_gostream gs
gsb_add "$TITLES_LIST" "$SEED_EP"
p1=$(sed -n 1p "$ADDED" | cut -f2); p2=$(sed -n 2p "$ADDED" | cut -f2)
seeks=(--size "$FILM_SIZE" --count "$BENCH_B5_SEEKS" --seed 5)
bench seeks --mode http --target "$GS_URL$p1" "${seeks[@]}" > "$T/http.json" || fail "HTTP seeks"
bench seeks --mode file --target "$GS_MNT$("$PY" -c 'import sys,urllib.parse as u; print(u.unquote(sys.argv[1]))' "$p2")" \
	"${seeks[@]}" > "$T/fuse.json" || fail "FUSE seeks"
gsb_gostream_stop

name=$(sed -n 3p "$T/b5_.names" | cut -d' ' -f1); hash=$(sed -n 3p "$T/b5_.names" | cut -d' ' -f2)
gsb_btfs "$(magnet "$hash" "$name" "$SEED_EP")" "$T/btfs"
wait_file "$T/btfs/$name" 30 > /dev/null || fail "btfs: $name not visible in 30 s"
bench seeks --mode file --target "$T/btfs/$name" "${seeks[@]}" > "$T/btfs.json" || fail "btfs seeks"
gsb_btfs_stop "$T/btfs"
cp "$T/http.json" "$BENCH_RAW/B5_http.json"; cp "$T/fuse.json" "$BENCH_RAW/B5_fuse.json"
cp "$T/btfs.json" "$BENCH_RAW/B5_btfs.json"

ms() { jq "$1" "round(j['latency']['$2'] * 1000, 1)"; }
for f in http fuse; do
	err=$(jq "$T/$f.json" 'j["errors"]')
	for p in p50 p99; do
		[ $p = p50 ] && lim=100 || lim=500
		row what="seek while streaming, $([ $f = http ] && echo HTTP || echo FUSE), $p" unit=ms \
			gostream="$(ms "$T/$f.json" $p)" reference="$(ms "$T/btfs.json" $p)" ref_name=btfs \
			target="< $lim ms" check="g < $lim and $err == 0" reps="$(jq "$T/$f.json" 'j["seeks"]') seeks" \
			spread="gs $(ms "$T/$f.json" min)-$(ms "$T/$f.json" max), btfs $(ms "$T/btfs.json" min)-$(ms "$T/btfs.json" max); failed reads: gs $err, btfs $(jq "$T/btfs.json" 'j["errors"]')" \
			raw_gostream="$(jq "$T/$f.json" 'j["latency"]')" raw_reference="$(jq "$T/btfs.json" 'j["latency"]')" \
			under_5ms="gs $(jq "$T/$f.json" 'j["under_5ms"]'), btfs $(jq "$T/btfs.json" 'j["under_5ms"]')" \
			errors="$(jq "$T/$f.json" 'j["error_samples"]')"
	done
done
