#!/usr/bin/env bash
# B6 - a Plex-like library scan: for each of BENCH_B6_TITLES titles (default 500, one
# file's bytes under different torrent names) read the first 1 MiB and the last 16 MiB, 8
# titles in parallel. Cold pass (empty warmup, seeder up) through the FUSE mount (the
# Samba/Plex path). Warm passes (BENCH_B6_WARM, default 1: a pass that wakes torrents
# costs minutes): every title over HTTP, then every title through FUSE; wakes
# (activations) and peer connections from /metrics are counted per pass and must stay at
# zero; failed reads (504, EIO/ETIMEDOUT) are counted. Besides, BENCH_B6_CROSS (default
# 20) more titles get their cold pass over HTTP (timed) and are then read through FUSE,
# counted apart: the kernel's FUSE readahead asks for bytes an HTTP scan never fetched.
# Reference: the
# same reads from local files (BENCH_B6_LOCAL distinct files holding the film's head and
# tail at the same offsets, sparse elsewhere, cycled over the titles: a working set far
# above the CPU caches, page cache warm), same parallelism (8 pread threads; over HTTP 8
# curl processes). For scale, nginx serving those local files gets the same HTTP scan:
# on loopback the HTTP transport alone costs several times a local read.
# Target: warm pass <= 2x local; zero wakes and zero peers during the warm passes.
. "$(dirname "$0")/lib.sh"
gsb_prepare
: "${BENCH_B6_TITLES:=500}" "${BENCH_B6_LOCAL:=64}" "${BENCH_B6_WARM:=1}" "${BENCH_B6_CROSS:=20}"
# A warm pass stops starting titles after BENCH_B6_PASS_MAX s (when torrents wake, each
# may wait ReadTimeoutSeconds on the swarm; the run must stay in its time budget).
: "${BENCH_B6_PASS_MAX:=150}"
N=$BENCH_B6_TITLES
C=$BENCH_B6_CROSS
gsb_titles b6_ $((N + C))
ls "$T"/tor/*.torrent > "$T/seed.list"
gsb_seed 127.0.0.2 --list "$T/seed.list"
GSB_FUSE=1 gsb_gostream gs
t0=$(date +%s.%N)
gsb_add "$TITLES_LIST" "$SEED_EP"
note "added $((N + C)) titles in $(since "$t0") s"
awk -v u="$GS_URL" '{print u $2}' "$ADDED" > "$T/http.all"
cut -f2 "$ADDED" | "$PY" -c '
import sys, urllib.parse as u
for l in sys.stdin: print(sys.argv[1] + u.unquote(l.strip()))' "$GS_MNT" > "$T/fuse.all"
head -n "$N" "$T/http.all" > "$T/http.list"
head -n "$N" "$T/fuse.all" > "$T/fuse.list"
tail -n +$((N + 1)) "$T/http.all" > "$T/cross_http.list"
tail -n +$((N + 1)) "$T/fuse.all" > "$T/cross_fuse.list"

# Local reference files: head and tail of the film at their offsets, holes between.
mkdir -p "$T/local"
for ((i = 0; i < BENCH_B6_LOCAL; i++)); do
	f=$T/local/l$i.mkv
	dd if="$FILM" of="$f" bs=1M count=1 status=none conv=notrunc
	dd if="$FILM" of="$f" bs=1M iflag=skip_bytes oflag=seek_bytes skip=$((FILM_SIZE - (16 << 20))) \
		seek=$((FILM_SIZE - (16 << 20))) status=none conv=notrunc
	truncate -s "$FILM_SIZE" "$f"
done
for ((i = 0; i < N; i++)); do echo "$T/local/l$((i % BENCH_B6_LOCAL)).mkv"; done > "$T/local.list"
gsb_nginx "$T/local"
sed "s|^$T/local|$NGX_URL|" "$T/local.list" > "$T/nginx.list"

scan() {   # scan MODE LIST NAME [DEADLINE] : one pass; its JSON gets the wake/peer deltas
	local a0 p0 a1 p1
	a0=$(metric activations); p0=$(metric peer_connections)
	bench scan --mode "$1" --list "$2" --size "$FILM_SIZE" --par 8 ${4:+--deadline "$4"} \
		> "$T/$3.json" || fail "scan $3"
	[ "$(jq "$T/$3.json" 'j["nerrors"]')" = 0 ] || note "scan $3: $(jq "$T/$3.json" 'j["errors"]')"
	a1=$(metric activations); p1=$(metric peer_connections)
	"$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); j["wakes"]=int(sys.argv[2]); j["peers"]=int(sys.argv[3]); json.dump(j, open(sys.argv[1], "w"))' \
		"$T/$3.json" $((a1 - a0)) $((p1 - p0))
	cp "$T/$3.json" "$BENCH_RAW/B6_$3.json"
}
settle() {   # the warmup cache fills and writes on its own threads: let them finish
	local i w0
	for ((i = 0; i < 120; i++)); do
		w0=$(metric warmup_bytes); sleep 1
		[ "$(metric warmup_bytes)" = "$w0" ] && [ "$(metric warmup_fill_pending_files)" = 0 ] &&
			[ "$(metric warmup_queue_bytes)" = 0 ] && break
	done
	note "settled after ${i} s"
	curl -sf --max-time 5 "http://127.0.0.1:$GS_METRICS_PORT/metrics" > "$BENCH_RAW/B6_metrics_settled.json" || true
}

scan file "$T/fuse.list" cold_fuse
scan http "$T/cross_http.list" cold_http
scan file "$T/local.list" local_prime
settle
scan file "$T/cross_fuse.list" cross_fuse "$BENCH_B6_PASS_MAX"
for ((k = 0; k < BENCH_B6_WARM; k++)); do
	scan file "$T/local.list" local.$k
	scan http "$T/nginx.list" nginx.$k
	scan http "$T/http.list" warm_http.$k "$BENCH_B6_PASS_MAX"
	scan file "$T/fuse.list" warm_fuse.$k "$BENCH_B6_PASS_MAX"
done
gsb_gostream_stop

secs() { for f in "$@"; do jq "$f" 'j["seconds"]'; done | summ; }
total() { local k=$1 t=0 f; shift; for f in "$@"; do t=$((t + $(jq "$f" "j['$k']"))); done; echo $t; }
loc=$(secs "$T"/local.[0-9]*.json)
lp=$(jq - 'round(j["p50"], 3)' <<< "$loc")
ngx=$(secs "$T"/nginx.*.json)
xw=$(jq "$T/cross_fuse.json" 'j["wakes"]'); xp=$(jq "$T/cross_fuse.json" 'j["peers"]')
cold="cold pass: $N titles FUSE $(jq "$T/cold_fuse.json" 'round(j["seconds"], 1)') s, $C titles HTTP $(jq "$T/cold_http.json" 'round(j["seconds"], 1)') s"
for f in http fuse; do
	w=$(secs "$T"/warm_$f.*.json)
	wk=$(total wakes "$T"/warm_$f.*.json); pc=$(total peers "$T"/warm_$f.*.json)
	er=$(total nerrors "$T"/warm_$f.*.json)
	pt=$(jq "$T/warm_$f.0.json" '"per title p50 %.0f ms, p99 %.0f ms" % (j["per_title"]["p50"] * 1000, j["per_title"]["p99"] * 1000) if j["per_title"]["n"] else "no title completed"')
	dl=$(for x in "$T"/warm_$f.*.json; do jq "$x" "'; pass stopped at the $BENCH_B6_PASS_MAX s deadline after %d of %d titles (a lower bound)' % (j['titles_done'], j['titles']) if j.get('deadline_hit') else ''"; done | grep . | head -1)
	extra=
	[ $f = http ] && extra="; nginx, same HTTP scan of the local files: $(jq - '"%.2f" % j["p50"]' <<< "$ngx") s"
	[ $f = fuse ] && extra="; $C HTTP-warmed titles through FUSE: wakes $xw, peers $xp"
	row what="scan $N titles (1+16 MiB, 8 parallel), warm, $([ $f = http ] && echo HTTP || echo FUSE)" unit=s \
		gostream="$(jq - 'round(j["p50"], 3)' <<< "$w")" reference="$lp" ref_name="local files" \
		target="<= 2x, 0 peers" check="ratio <= 2 and $wk == 0 and $pc == 0 and $er == 0" reps="$BENCH_B6_WARM passes" \
		spread="gs $(jq - '"%.2f-%.2f" % (j["min"], j["max"])' <<< "$w") ($pt), local $(jq - '"%.2f-%.2f" % (j["min"], j["max"])' <<< "$loc"); wakes $wk, peers $pc, failed reads $er$dl$extra; $cold" \
		wakes_during_warm="$wk" peers_during_warm="$pc" cross_wakes="$xw" cross_peers="$xp" \
		raw_gostream="$w" raw_reference="$loc" raw_nginx_http="$ngx" raw_cold_fuse="$(cat "$T/cold_fuse.json")" \
		raw_cold_http="$(cat "$T/cold_http.json")" per_title_warm="$(jq "$T/warm_$f.0.json" 'j["per_title"]')"
done
