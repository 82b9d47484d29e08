#!/usr/bin/env bash
# B10 - FUSE read throughput of a file gostream holds in RAM: dd bs=1M of the whole 1 GiB
# through the mount, the kernel's page cache of that file dropped before each run
# (dd iflag=nocache count=0, so every byte crosses FUSE from gostream's RAM read-ahead),
# vs dd bs=1M of the same bytes from the local file (page cache warm). A re-read through
# FUSE without dropping (the kernel keeps the pages: keep_cache) is in the raw figures.
# Runs alternate. Target: >= 0.6x local.
. "$(dirname "$0")/lib.sh"
gsb_prepare
: "${BENCH_B10_REPS:=5}"
gsb_titles b10_ 1
gsb_seed 127.0.0.2 "$T/tor/b10_0001.mkv.torrent"
GSB_FUSE=1 gsb_gostream gs '"read_ahead_budget_mb": 1536'
gsb_add "$TITLES_LIST" "$SEED_EP"
P=$(cut -f2 "$ADDED")
F=$GS_MNT$("$PY" -c 'import sys,urllib.parse as u; print(u.unquote(sys.argv[1]))' "$P")
warm_http "$GS_URL$P"
warm_http "$GS_URL$P"
ra=$(metric read_ahead_total_bytes)
[ "$ra" -ge "$FILM_SIZE" ] || note "gostream RAM read-ahead holds $ra of $FILM_SIZE bytes"

ddrate() {   # ddrate FILE -> MB/s
	local t0 n
	t0=$(date +%s.%N)
	n=$(ddread "$1")
	[ "$n" = "$FILM_SIZE" ] || fail "dd $1: $n bytes"
	rate "$n" "$(since "$t0")"
}
dd if="$F" iflag=nocache count=0 status=none
e0=$(metric engine_bytes)
for ((k = 0; k < BENCH_B10_REPS; k++)); do
	dd if="$F" iflag=nocache count=0 status=none
	ddrate "$F" >> "$T/fuse"; echo >> "$T/fuse"
	ddrate "$F" >> "$T/fuse_kcache"; echo >> "$T/fuse_kcache"
	ddrate "$FILM" >> "$T/local"; echo >> "$T/local"
done
e1=$(metric engine_bytes)
gsb_gostream_stop
g=$(summ < "$T/fuse"); r=$(summ < "$T/local"); kc=$(summ < "$T/fuse_kcache")
row what="FUSE dd bs=1M, file in gostream's RAM" unit=MB/s gostream="$(jq - 'j["p50"]' <<< "$g")" \
	reference="$(jq - 'j["p50"]' <<< "$r")" ref_name="local file (page cache)" \
	target=">= 0.6x" check="ratio >= 0.6" reps="$BENCH_B10_REPS" \
	spread="gs $(jq - '"%.0f-%.0f" % (j["min"], j["max"])' <<< "$g"), local $(jq - '"%.0f-%.0f" % (j["min"], j["max"])' <<< "$r"); FUSE re-read from the kernel page cache $(jq - '"%.0f" % j["p50"]' <<< "$kc")" \
	raw_gostream="$g" raw_reference="$r" raw_fuse_kernel_cache="$kc" engine_bytes_during=$((e1 - e0))
