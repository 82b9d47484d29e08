#!/usr/bin/env bash
# B3 - time to the first 64 KiB in the middle of an asleep torrent (added, never read: no
# warmup, no RAM, not in the swarm), default engine settings (uTP and TCP both on). Two
# seeders: 127.0.0.2 TCP-only, 127.0.0.3 uTP-capable (TCP and uTP), half the titles each.
# Every request is a new title (a fresh info-hash over the same bytes), so nothing is
# cached; each is dropped (put back to sleep) after its read. Phase "add": read right after
# `add` (.torrent + peers). Phase "restart": gostream restarted on the same state dir
# (info dicts and peers persisted), each title read again 1/4 of the file further on.
# Also the time of a magnet `add` with x.pe (metadata from the seeder). Reference: btfs
# on the TCP-only seeder, a fresh mount per run, from its start until 64 KiB of the file
# are read (btfs takes a magnet with x.pe, so this includes its metadata fetch and
# libtorrent's uTP-first attempt; the time from the file appearing to the read is kept in
# the raw figures). Target: p50 < 150 ms, p99 < 500 ms for each seeder kind and phase.
. "$(dirname "$0")/lib.sh"
gsb_prepare
: "${BENCH_B3_TITLES:=30}" "${BENCH_B3_BTFS:=3}" "${BENCH_B3_MAGNETS:=3}"
half=$((BENCH_B3_TITLES / 2))
gsb_titles b3_ $((2 * half + 2 * BENCH_B3_MAGNETS + BENCH_B3_BTFS))
# lists: titles 1..half on the TCP-only seeder, half+1..2*half on the uTP-capable one
sed -n "1,${half}p" "$TITLES_LIST" > "$T/tcp.list"
sed -n "$((half + 1)),$((2 * half))p" "$TITLES_LIST" > "$T/utp.list"
ls "$T"/tor/*.torrent > "$T/seed.list"
gsb_seed 127.0.0.2 --list "$T/seed.list"; EP_TCP=$SEED_EP
gsb_seed 127.0.0.3 --utp --list "$T/seed.list"; EP_UTP=$SEED_EP
gsb_gostream gs
gsb_add "$T/tcp.list" "$EP_TCP"; cp "$ADDED" "$T/tcp.added"
gsb_add "$T/utp.list" "$EP_UTP"; cp "$ADDED" "$T/utp.added"
[ "$(metric torrents_awake)" = 0 ] || fail "titles awake before any read"

# read_all KIND PHASE OFFSET: first 64 KiB at OFFSET of every title of KIND, one by one
read_all() {
	local kind=$1 phase=$2 off=$3 hash path code n first total
	while read -r hash path; do
		read -r code n first total < <(curl -s -r "$off-$((off + 65535))" -o /dev/null --max-time 60 \
			-w '%{http_code} %{size_download} %{time_starttransfer} %{time_total}\n' "$GS_URL$path")
		# A failed read (504 after ReadTimeoutSeconds, a cut body) keeps its time and is counted.
		[ "$code" = 206 ] && [ "$n" = 65536 ] ||
			echo "$path: HTTP $code, $n bytes after $total s" >> "$T/$kind.$phase.fail"
		echo "$total" >> "$T/$kind.$phase.txt"
		api "{\"action\":\"drop\",\"hash\":\"$hash\"}" > /dev/null || fail "drop $hash"
	done < "$T/$kind.added"
}
mid=$((FILM_SIZE / 2 / 65536 * 65536))
read_all tcp add "$mid"
read_all utp add "$mid"
wakes=$(metric activations)

# magnet adds with x.pe: the metadata comes from the seeder (titles after the read ones)
for kind in tcp utp; do
	if [ $kind = tcp ]; then ep=$EP_TCP base=$((2 * half)); else ep=$EP_UTP base=$((2 * half + BENCH_B3_MAGNETS)); fi
	for ((i = 1; i <= BENCH_B3_MAGNETS; i++)); do
		k=$((base + i))
		name=$(sed -n "${k}p" "$T/b3_.names" | cut -d' ' -f1)
		hash=$(sed -n "${k}p" "$T/b3_.names" | cut -d' ' -f2)
		t0=$(date +%s.%N)
		api "{\"action\":\"add\",\"link\":\"$(magnet "$hash" "$name" "$ep")\",\"title\":\"m$kind$i (2020)\",\"category\":\"movie\"}" \
			> /dev/null || fail "magnet add $name"
		since "$t0" >> "$T/$kind.magnet.txt"; echo >> "$T/$kind.magnet.txt"
	done
done
gsb_gostream_stop

# restart on the same state dir: torrents asleep, info dicts and peers from the catalog
gsb_gostream gs
[ "$(metric torrents_awake)" = 0 ] || fail "titles awake after the restart"
q=$((FILM_SIZE / 4 * 3 / 65536 * 65536))
read_all tcp restart "$q"
read_all utp restart "$q"
gsb_gostream_stop

# btfs: fresh mount of a fresh title each run (the last titles), TCP-only seeder.
mkdir -p "$T/btfs"
for ((i = 1; i <= BENCH_B3_BTFS; i++)); do
	k=$((2 * half + 2 * BENCH_B3_MAGNETS + i))
	name=$(sed -n "${k}p" "$T/b3_.names" | cut -d' ' -f1)
	hash=$(sed -n "${k}p" "$T/b3_.names" | cut -d' ' -f2)
	mnt=$T/btfs/m$i
	t0=$(date +%s.%N)
	gsb_btfs "$(magnet "$hash" "$name" "$EP_TCP")" "$mnt"
	vis=$(wait_file "$mnt/$name" 30) || fail "btfs: $name not visible in 30 s"
	dd if="$mnt/$name" of=/dev/null bs=64k count=1 status=none || fail "btfs read"
	tot=$(since "$t0")
	echo "$vis $tot" >> "$T/btfs.txt"
	gsb_btfs_stop "$mnt"
done
r=$(awk '{print $2}' "$T/btfs.txt" | summ 1000)
ra=$(awk '{print $2 - $1}' "$T/btfs.txt" | summ 1000)
echo "{\"spawn_to_64k\": $r, \"visible_to_64k\": $ra}" > "$BENCH_RAW/B3_btfs.json"
rp50=$(jq - "round(j['p50'], 1)" <<< "$r")
for phase in add restart; do
	for kind in tcp utp; do
		g=$(summ 1000 < "$T/$kind.$phase.txt")
		echo "$g" > "$BENCH_RAW/B3_$kind.$phase.json"
		cp "$T/$kind.$phase.txt" "$BENCH_RAW/B3_$kind.$phase.txt"
		p99=$(jq - "round(j['p99'], 1)" <<< "$g")
		nf=$(cat "$T/$kind.$phase.fail" 2> /dev/null | wc -l)
		row what="asleep torrent, first 64 KiB mid-file, $([ $kind = tcp ] && echo TCP-only || echo uTP-capable) seeder, after $phase, p50 (p99 in notes)" \
			unit=ms gostream="$(jq - "round(j['p50'], 1)" <<< "$g")" \
			reference="$rp50" ref_name="btfs start->64 KiB, TCP-only seeder" \
			target="p50 < 150 ms, p99 < 500 ms" check="g < 150 and $p99 < 500 and $nf == 0" \
			reps="$(jq - 'j["n"]' <<< "$g") titles, btfs $BENCH_B3_BTFS" \
			spread="p99 $p99 ms, $(jq - '"%.0f-%.0f" % (j["min"], j["max"])' <<< "$g") ms; failed reads $nf$([ $phase$kind = addtcp ] && echo ", btfs $(jq - '"%.0f-%.0f" % (j["min"], j["max"])' <<< "$r") (after mount: $(jq - '"%.0f" % j["p50"]' <<< "$ra"))")" \
			raw_gostream="$g" raw_reference="$r" wakes="$wakes"
	done
done
for kind in tcp utp; do
	m=$(summ 1000 < "$T/$kind.magnet.txt")
	row what="magnet add with x.pe (metadata from the $([ $kind = tcp ] && echo TCP-only || echo uTP-capable) seeder), p50" \
		unit=ms gostream="$(jq - "round(j['p50'], 1)" <<< "$m")" target="< 500 ms" \
		check="g < 500" reps="$(jq - 'j["n"]' <<< "$m") adds" \
		spread="$(jq - '"%.0f-%.0f" % (j["min"], j["max"])' <<< "$m") ms" raw_gostream="$m"
done
