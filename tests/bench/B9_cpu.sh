#!/usr/bin/env bash
# B9 - CPU seconds per GB delivered (utime+stime from /proc/PID/stat around the transfer,
# the serving process only; the client's and the seeder's CPU are not counted).
# Cached path: whole 1 GiB file in gostream's RAM read-ahead, curl over HTTP, vs nginx
# (master + workers) serving the same bytes from a plain file, page cache warm.
# Swarm path: a fresh asleep title streamed whole over HTTP from one loopback seeder, vs
# plain python3-libtorrent downloading the same torrent to tmpfs (its own process CPU
# from add to finished). BENCH_REPS runs each, alternating, every cached run first. Target: <= 1.3x nginx
# (cached), <= 1.3x raw libtorrent (swarm).
. "$(dirname "$0")/lib.sh"
gsb_prepare
reps=$BENCH_REPS
gsb_titles b9_ $((reps + 1))
ls "$T"/tor/*.torrent > "$T/seed.list"
gsb_seed 127.0.0.2 --list "$T/seed.list"
gsb_gostream gs '"read_ahead_budget_mb": 1536'
gsb_add "$TITLES_LIST" "$SEED_EP"
P=$(sed -n 1p "$ADDED" | cut -f2)
warm_http "$GS_URL$P"
warm_http "$GS_URL$P"
mkdir -p "$T/www/movies"
ln -f "$FILM" "$T/www$("$PY" -c 'import sys,urllib.parse as u; print(u.unquote(sys.argv[1]))' "$P")"
gsb_nginx "$T/www"
warm_http "$NGX_URL$P"
shm=$(mktemp -d /dev/shm/gsb-dl.XXXXXX)
GS_CLEANUPS+=("rm -rf '$shm'")

per_gb() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.3f", (b - a) / (n / 1e9) }'; }
fetch() {   # fetch URL -> bytes (whole body, HTTP 200)
	local code n
	read -r code n < <(curl -s -o /dev/null --max-time 300 -w '%{http_code} %{size_download}\n' "$1")
	[ "$code" = 200 ] || fail "$1: HTTP $code"
	echo "$n"
}
for ((k = 0; k < reps; k++)); do
	c0=$(cpu_of "$GS_PID"); n=$(fetch "$GS_URL$P"); c1=$(cpu_of "$GS_PID")
	per_gb "$c0" "$c1" "$n" >> "$T/cached.gs"; echo >> "$T/cached.gs"
	c0=$(cpu_tree "$NGX_PID"); n=$(fetch "$NGX_URL$P"); c1=$(cpu_tree "$NGX_PID")
	per_gb "$c0" "$c1" "$n" >> "$T/cached.ngx"; echo >> "$T/cached.ngx"
done
# Swarm runs after every cached one: a torrent woken by a swarm run may still work in
# the background (pump, warmup writes) and would be charged to a cached run.
for ((k = 0; k < reps; k++)); do
	p=$(sed -n "$((k + 2))p" "$ADDED" | cut -f2)
	c0=$(cpu_of "$GS_PID")
	read -r code n < <(curl -s -o /dev/null --max-time 300 -w '%{http_code} %{size_download}\n' "$GS_URL$p")
	c1=$(cpu_of "$GS_PID")
	# A failed swarm run (see B4) is counted, not charged per GB.
	if [ "$code" = 200 ] && [ "$n" = "$FILM_SIZE" ]; then
		per_gb "$c0" "$c1" "$n" >> "$T/swarm.gs"; echo >> "$T/swarm.gs"
	else
		echo "HTTP $code, $n bytes" >> "$T/swarm.fail"
	fi
	bench download --torrent "$(sed -n "$((k + 2))p" "$TITLES_LIST" | cut -f1)" --peer "$SEED_EP" \
		--bind 127.0.0.3 --save "$shm/$k" > "$T/dl.json" || fail "raw download"
	rm -rf "${shm:?}/$k"
	jq "$T/dl.json" '"%.3f" % (j["cpu_seconds"] / (j["bytes"] / 1e9))' >> "$T/swarm.raw"
done
# What gostream burns after a swarm stream has ended (nobody reading).
c0=$(cpu_of "$GS_PID"); sleep 5; c1=$(cpu_of "$GS_PID")
idle=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')
gsb_gostream_stop
touch "$T/swarm.gs"
for f in cached.gs cached.ngx swarm.gs swarm.raw; do summ < "$T/$f" > "$T/$f.s"; done
sp() { jq "$1" '"%.2f-%.2f" % (j["min"], j["max"]) if j["n"] else "-"'; }
row what="CPU per GB, cached path (HTTP)" unit=cpu-s/GB gostream="$(jq "$T/cached.gs.s" 'j["p50"]')" \
	reference="$(jq "$T/cached.ngx.s" 'j["p50"]')" ref_name="nginx" target="<= 1.3x" check="ratio <= 1.3" \
	reps="$reps" spread="gs $(sp "$T/cached.gs.s"), nginx $(sp "$T/cached.ngx.s")" \
	raw_gostream="$(cat "$T/cached.gs.s")" raw_reference="$(cat "$T/cached.ngx.s")"
nf=$(cat "$T/swarm.fail" 2> /dev/null | wc -l)
g=$(jq "$T/swarm.gs.s" 'j.get("p50")'); [ "$g" = None ] && g=null
row what="CPU per GB, swarm path (HTTP)" unit=cpu-s/GB gostream="$g" \
	reference="$(jq "$T/swarm.raw.s" 'j["p50"]')" ref_name="raw libtorrent" target="<= 1.3x" check="ratio <= 1.3" \
	reps="$reps" spread="gs $(sp "$T/swarm.gs.s"), raw $(sp "$T/swarm.raw.s"); failed gostream runs: $nf" \
	raw_gostream="$(cat "$T/swarm.gs.s")" raw_reference="$(cat "$T/swarm.raw.s")" \
	cpu_s_in_5s_after_last_stream="$idle"
