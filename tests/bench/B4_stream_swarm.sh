#!/usr/bin/env bash
# B4 - streaming a whole 1 GiB file (4 MiB pieces) out of one loopback seeder, asleep at
# the start: over HTTP (curl) and through the FUSE mount (dd bs=1M), each run on a fresh
# title (new info-hash, nothing cached). References on the same seeder: the raw swarm
# rate of plain python3-libtorrent downloading the same torrent to tmpfs (seconds from
# add to torrent_finished, including libtorrent's first 500 ms tick), and btfs reading
# the first BENCH_BTFS_MB MiB with dd once its file is visible (btfs is ~20 MB/s here, the
# whole file would take a minute per run). Target: >= 0.8x raw. Also records gostream's
# CPU seconds per run for B9.
. "$(dirname "$0")/lib.sh"
gsb_prepare
: "${BENCH_BTFS_MB:=256}" "${BENCH_B4_BTFS:=2}"
reps=$BENCH_REPS
gsb_titles b4_ $((2 * reps + BENCH_B4_BTFS))
ls "$T"/tor/*.torrent > "$T/seed.list"
gsb_seed 127.0.0.2 --list "$T/seed.list"
GSB_FUSE=1 gsb_gostream gs
gsb_add "$TITLES_LIST" "$SEED_EP"
shm=$(mktemp -d /dev/shm/gsb-dl.XXXXXX)
GS_CLEANUPS+=("rm -rf '$shm'")

i=0
for ((k = 0; k < reps; k++)); do
	# HTTP, fresh title
	i=$((i + 1)); path=$(sed -n "${i}p" "$ADDED" | cut -f2)
	c0=$(cpu_of "$GS_PID")
	read -r code n secs < <(curl -s -o /dev/null --max-time 300 \
		-w '%{http_code} %{size_download} %{time_total}\n' "$GS_URL$path")
	c1=$(cpu_of "$GS_PID")
	# A failed run (gostream gave up: 504 / cut body / EIO after ReadTimeoutSeconds) is
	# counted and reported, not averaged in; the benchmark goes on.
	if [ "$code" = 200 ] && [ "$n" = "$FILM_SIZE" ]; then
		echo "$(rate "$n" "$secs") $secs $(awk -v a="$c0" -v b="$c1" 'BEGIN{print b - a}')" >> "$T/http.txt"
	else
		echo "title $i: HTTP $code, $n bytes after $secs s" >> "$T/http.fail"
	fi
	# FUSE, fresh title
	i=$((i + 1)); f=$GS_MNT$("$PY" -c 'import sys,urllib.parse as u; print(u.unquote(sys.argv[1]))' \
		"$(sed -n "${i}p" "$ADDED" | cut -f2)")
	c0=$(cpu_of "$GS_PID"); t0=$(date +%s.%N)
	n=$(ddread "$f")
	secs=$(since "$t0"); c1=$(cpu_of "$GS_PID")
	if [ "$n" = "$FILM_SIZE" ]; then
		echo "$(rate "$n" "$secs") $secs $(awk -v a="$c0" -v b="$c1" 'BEGIN{print b - a}')" >> "$T/fuse.txt"
	else
		echo "title $i: read $n bytes, then an error after $secs s" >> "$T/fuse.fail"
	fi
	# raw python3-libtorrent, the torrent of this round's HTTP run (same seeder)
	bench download --torrent "$(sed -n "$((i - 1))p" "$TITLES_LIST" | cut -f1)" --peer "$SEED_EP" --bind 127.0.0.3 \
		--save "$shm/$k" > "$T/dl.json" || fail "raw download"
	rm -rf "${shm:?}/$k"
	echo "$(jq "$T/dl.json" '"%.1f %.3f %.3f" % (j["mbps"], j["seconds"], j["cpu_seconds"])')" >> "$T/raw.txt"
done
gsb_gostream_stop

# btfs: dd of the first BENCH_BTFS_MB MiB once the file is visible
mkdir -p "$T/btfs"
for ((k = 0; k < BENCH_B4_BTFS; k++)); do
	i=$((i + 1))
	name=$(sed -n "${i}p" "$T/b4_.names" | cut -d' ' -f1)
	hash=$(sed -n "${i}p" "$T/b4_.names" | cut -d' ' -f2)
	mnt=$T/btfs/m$k
	gsb_btfs "$(magnet "$hash" "$name" "$SEED_EP")" "$mnt"
	wait_file "$mnt/$name" 30 > /dev/null || fail "btfs: $name not visible in 30 s"
	t0=$(date +%s.%N)
	n=$(ddread "$mnt/$name" count="$BENCH_BTFS_MB")
	secs=$(since "$t0")
	[ "$n" = $((BENCH_BTFS_MB << 20)) ] || fail "btfs read $n bytes"
	rate "$n" "$secs" >> "$T/btfs.txt"; echo >> "$T/btfs.txt"
	gsb_btfs_stop "$mnt"
done

touch "$T/http.txt" "$T/fuse.txt" "$T/http.fail" "$T/fuse.fail"
for f in http fuse raw; do awk '{print $1}' "$T/$f.txt" | summ > "$T/$f.s"; cp "$T/$f.txt" "$BENCH_RAW/B4_$f.txt"; done
summ < "$T/btfs.txt" > "$T/btfs.s"
r=$(jq "$T/raw.s" 'j["p50"]')
b=$(jq "$T/btfs.s" 'round(j["p50"], 1)')
spread() { jq "$1" '"%.0f-%.0f" % (j["min"], j["max"]) if j["n"] else "-"'; }
for f in http fuse; do
	g=$(jq "$T/$f.s" 'j.get("p50")'); [ "$g" = None ] && g=null
	nf=$(wc -l < "$T/$f.fail")
	row what="1 GiB from one seeder, $([ $f = http ] && echo HTTP curl || echo FUSE dd)" unit=MB/s \
		gostream="$g" reference="$r" ref_name="raw libtorrent" \
		target=">= 0.8x" check="ratio >= 0.8 and $nf == 0" reps="$reps" \
		spread="gs $(spread "$T/$f.s"), raw $(spread "$T/raw.s"); btfs $b MB/s ($BENCH_BTFS_MB MiB, $(spread "$T/btfs.s")); failed runs: $nf$([ "$nf" -gt 0 ] && echo " ($(head -1 "$T/$f.fail"))")" \
		raw_gostream="$(cat "$T/$f.s")" raw_reference="$(cat "$T/raw.s")" raw_btfs="$(cat "$T/btfs.s")" \
		failed_runs="$nf" ratio_vs_btfs="$(awk -v a="$g" -v b="$b" 'BEGIN{ if (a + 0 > 0) printf "%.1f", a / b; else print "null" }')"
done
