#!/usr/bin/env bash
# B3 - time to the first 64 KiB of an asleep torrent (added, never read: no warmup, no
# RAM, not in the swarm), from one loopback seeder. Every request is a new title (a fresh
# info-hash over the same bytes), so nothing is cached; each is dropped (put back to
# sleep) after its read. Reference: btfs on the same seeder, a fresh mount per run, from
# its start until 64 KiB of the file are read (btfs takes a magnet with x.pe, so this
# includes its metadata fetch and libtorrent's uTP-first attempt, ~3.5 s against the
# TCP-only seeder; the time from the file appearing to the read is kept in the raw
# figures). Target: p50 < 150 ms, p99 < 500 ms.
. "$(dirname "$0")/lib.sh"
gsb_prepare
: "${BENCH_B3_TITLES:=30}" "${BENCH_B3_BTFS:=3}"

gsb_titles b3_ "$BENCH_B3_TITLES"
ls "$T"/tor/*.torrent > "$T/seed.list"
gsb_seed 127.0.0.2 --list "$T/seed.list"
gsb_gostream gs
gsb_add "$TITLES_LIST" "$SEED_EP"
[ "$(metric torrents_awake)" = 0 ] || fail "titles awake before any read"
while read -r hash path; do
	read -r code n first total < <(curl -s -r 0-65535 -o /dev/null --max-time 60 \
		-w '%{http_code} %{size_download} %{time_starttransfer} %{time_total}\n' "$GS_URL$path")
	# A failed read (504 after ReadTimeoutSeconds, a cut body) keeps its time and is counted.
	[ "$code" = 206 ] && [ "$n" = 65536 ] || echo "$path: HTTP $code, $n bytes after $total s" >> "$T/gs.fail"
	echo "$first $total" >> "$T/gs.txt"
	api "{\"action\":\"drop\",\"hash\":\"$hash\"}" > /dev/null || fail "drop $hash"
done < "$ADDED"
wakes=$(metric activations)
g=$(awk '{print $2}' "$T/gs.txt" | summ 1000)
echo "$g" > "$BENCH_RAW/B3_gostream.json"
gsb_gostream_stop

# btfs: fresh mount of a fresh title each run (titles after gostream's, same seeder).
mkdir -p "$T/btfs"
for ((i = 1; i <= BENCH_B3_BTFS; i++)); do
	name=$(sed -n "${i}p" "$T/b3_.names" | cut -d' ' -f1)
	hash=$(sed -n "${i}p" "$T/b3_.names" | cut -d' ' -f2)
	mnt=$T/btfs/m$i
	t0=$(date +%s.%N)
	gsb_btfs "$(magnet "$hash" "$name" "$SEED_EP")" "$mnt"
	vis=$(wait_file "$mnt/$name" 30) || fail "btfs: $name not visible in 30 s"
	dd if="$mnt/$name" of=/dev/null bs=64k count=1 status=none || fail "btfs read"
	tot=$(since "$t0")
	echo "$vis $tot" >> "$T/btfs.txt"
	gsb_btfs_stop "$mnt"
done
r=$(awk '{print $2}' "$T/btfs.txt" | summ 1000)
ra=$(awk '{print $2 - $1}' "$T/btfs.txt" | summ 1000)
echo "{\"spawn_to_64k\": $r, \"visible_to_64k\": $ra}" > "$BENCH_RAW/B3_btfs.json"
n=$(wc -l < "$T/gs.txt")
nf=$(cat "$T/gs.fail" 2> /dev/null | wc -l)
row what="asleep torrent, first 64 KiB, p50" unit=ms gostream="$(jq - "round(j['p50'], 1)" <<< "$g")" \
	reference="$(jq - "round(j['p50'], 1)" <<< "$r")" ref_name="btfs start->64 KiB" \
	target="< 150 ms" check="g < 150 and $nf == 0" reps="$n titles, btfs $BENCH_B3_BTFS" \
	spread="failed reads $nf; gs $(jq - '"%.0f-%.0f" % (j["min"], j["max"])' <<< "$g"), btfs $(jq - '"%.0f-%.0f" % (j["min"], j["max"])' <<< "$r") (after mount: $(jq - '"%.0f" % j["p50"]' <<< "$ra"))" \
	raw_gostream="$g" raw_reference="$r" raw_btfs_after_visible="$ra" wakes="$wakes"
row what="asleep torrent, first 64 KiB, p99" unit=ms gostream="$(jq - "round(j['p99'], 1)" <<< "$g")" \
	reference="$(jq - "round(j['p99'], 1)" <<< "$r")" ref_name="btfs start->64 KiB" \
	target="< 500 ms" check="g < 500 and $nf == 0" reps="$n titles, btfs $BENCH_B3_BTFS"
