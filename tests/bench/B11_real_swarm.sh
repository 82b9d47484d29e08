#!/usr/bin/env bash
# B11 - a real swarm: 8 seeders on their own addresses (127.0.0.11-18), each capped at
# 2 MiB/s upload (on libtorrent's local peer class too: 127.x peers are "local" and
# exempt from the session limit otherwise), four TCP-only and four uTP-capable, one 1 GiB
# film (4 MiB pieces). gostream on its default engine settings. A player (bench.py
# player) reads over HTTP at a paced 10 MB/s (an 80 Mbit/s 4K remux) for 60 s from a
# random start, then makes 10 seeks (time to the first 1 MiB, then 3 s paced). Reported:
# start-up (first 1 MiB), stalls (a 1 MiB read waiting > 1 s), how far the player fell
# behind its schedule, MB delivered of those due, seek p50/p99, and the rate gostream
# pulled from the swarm (its download_rate, sampled each second) against raw
# python3-libtorrent (default transports) downloading the same torrent from the same
# swarm for BENCH_B11_RAW_S seconds. The raw rate is also the check that the caps hold.
# Targets: start-up < 1 s, 0 stalls, never more than 1 s behind, seek p50 < 500 ms,
# p99 < 2 s. BENCH_B11_GS_EXTRA adds one top-level config entry for a profiling run
# (e.g. '"log_level": "debug"', with BT_PEERLOG=1 for libtorrent's per-block log);
# figures are taken without it (gostream on its defaults).
. "$(dirname "$0")/lib.sh"
gsb_prepare
: "${BENCH_B11_SECONDS:=60}" "${BENCH_B11_SEEKS:=10}" "${BENCH_B11_RAW_S:=30}" "${BENCH_B11_KIB:=2048}"
gsb_titles b11_ 2
sed -n 1p "$TITLES_LIST" > "$T/gs.list"
tor1=$(sed -n 1p "$TITLES_LIST" | cut -f1) tor2=$(sed -n 2p "$TITLES_LIST" | cut -f1)
peers=()
for i in 1 2 3 4 5 6 7 8; do
	utp=(); [ $((i % 2)) = 0 ] && utp=(--utp)
	gsb_seed "127.0.0.$((10 + i))" "${utp[@]}" --upload-kib "$BENCH_B11_KIB" "$tor1" "$tor2"
	peers+=("$SEED_EP")
done

# raw libtorrent first, on the second title (same bytes, its own info-hash): the swarm's
# rate with these caps, before gostream has touched it
shm=$(mktemp -d /dev/shm/gsb-b11.XXXXXX)
GS_CLEANUPS+=("rm -rf '$shm'")
pa=(); for p in "${peers[@]}"; do pa+=(--peer "$p"); done
bench download --torrent "$tor2" "${pa[@]}" --bind 127.0.0.3 --utp on --save "$shm" \
	--seconds "$BENCH_B11_RAW_S" > "$T/raw.json" || fail "raw download"
rm -rf "${shm:?}"/*
cp "$T/raw.json" "$BENCH_RAW/B11_raw.json"
raw=$(jq "$T/raw.json" 'round(j["mbps"], 1)')
note "raw libtorrent: $raw MB/s over ${BENCH_B11_RAW_S} s ($(jq "$T/raw.json" 'j["peers"]') peers)"

gsb_gostream gs ${BENCH_B11_GS_EXTRA:+"$BENCH_B11_GS_EXTRA"}
# every seeder is a known peer of the title (as a tracker or DHT would give them)
bench add --api "http://127.0.0.1:$GS_API_PORT" --list "$T/gs.list" "${pa[@]}" > "$T/added" || fail "add"
path=$(cut -f2 "$T/added")
bench player --url "$GS_URL$path" --size "$FILM_SIZE" --rate 10e6 --seconds "$BENCH_B11_SECONDS" \
	--seeks "$BENCH_B11_SEEKS" --metrics "http://127.0.0.1:$GS_METRICS_PORT/metrics" > "$T/play.json" ||
	fail "player"
gsb_gostream_stop
cp "$T/play.json" "$BENCH_RAW/B11_player.json"

p() { jq "$T/play.json" "$1"; }
err=$(p 'j.get("error", "")')
[ -n "$err" ] && note "player error: $err"
mb=$(p 'round(j.get("bytes", 0) / 1e6)') due=$(p 'round(j.get("due", 0) / 1e6)')
spread="$mb of $due MB due in ${BENCH_B11_SECONDS} s; worst 1 MiB read $(p 'round(j.get("worst_read_s") or 0, 2)') s; raw $raw MB/s, 8 seeders x $BENCH_B11_KIB KiB/s"
row what="real swarm (8 capped seeders), 4K player: start-up (first 1 MiB)" unit=s \
	gostream="$(p 'round(j.get("startup_s") or 99, 2)')" target="< 1 s" check="g < 1" reps=1 \
	spread="$spread" raw_player="$(cat "$T/play.json")" raw_reference="$(cat "$T/raw.json")"
row what="real swarm, 4K player: stalls (1 MiB read > 1 s) in ${BENCH_B11_SECONDS} s" unit=stalls \
	gostream="$(p 'j.get("stalls", 99)')" target="0" check="g == 0" reps=1 spread="$spread"
row what="real swarm, 4K player: most behind schedule" unit=s \
	gostream="$(p 'round(j.get("behind_s", 99), 2)')" target="<= 1 s" check="g <= 1" reps=1 spread="$spread"
row what="real swarm, 4K player: seek to first 1 MiB, p50" unit=ms \
	gostream="$(p 'round(j["seek"].get("p50", 99) * 1000)')" target="< 500 ms" check="g < 500" \
	reps="$(p 'j["seek"]["n"]') seeks" spread="seek errors $(p 'len(j["seek_errors"])'); all: $(p '" ".join("%.2f" % x for x in j["seek_all"])') s"
row what="real swarm, 4K player: seek to first 1 MiB, p99" unit=ms \
	gostream="$(p 'round(j["seek"].get("p99", 99) * 1000)')" target="< 2000 ms" check="g < 2000" \
	reps="$(p 'j["seek"]["n"]') seeks"
row what="real swarm: rate pulled from the swarm while playing (mean; max)" unit=MB/s \
	gostream="$(p 'round(j.get("gs_download_rate", {}).get("mean", 0), 1)')" reference="$raw" \
	ref_name="raw libtorrent, whole film, same swarm" target="(10 MB/s needed)" reps=1 \
	spread="gostream max $(p 'round(j.get("gs_download_rate", {}).get("max", 0), 1)') MB/s; the player needs 10 MB/s"
