#!/usr/bin/env bash
# B12 - loading a peer blocklist of BENCH_B12_RANGES ranges (default 700,000, the size of
# the original's list): a generated gzipped P2P list ("description:first-last", distinct
# non-adjacent IPv4 ranges) served by tests/lib/blocklist_server.py. Figures: the load
# when the refresh downloads it (gunzip + parse + sort/merge + libtorrent ip_filter,
# blocklist_load_seconds), the load of the saved copy at start (before the first peer
# connection; median of BENCH_REPS restarts) and gostream's resident memory with one
# range vs the whole list (VmRSS, and VmHWM for the peak while loading). Target: a load
# under 1 s. Runnable alone: BENCH_ONLY=B12 make bench, or bash tests/bench/B12_blocklist.sh.
. "$(dirname "$0")/lib.sh"
: "${BENCH_B12_RANGES:=700000}"
N=$BENCH_B12_RANGES
mkdir -p "$T/www"
t0=$(date +%s.%N)
"$PY" - "$N" "$T/big.gz" <<'EOF' || fail "cannot generate the list"
import gzip, random, socket, struct, sys
n, out = int(sys.argv[1]), sys.argv[2]
rnd = random.Random(12)
step = (1 << 32) // (n + 1)
lines = []
for i in range(n):
    first = 1 + i * step + rnd.randrange(step // 2)
    last = first + rnd.randrange(1, step // 2 - 1)
    lines.append("Org %d, bad peers:%s-%s\n" % (i, socket.inet_ntoa(struct.pack("!I", first)),
                                               socket.inet_ntoa(struct.pack("!I", last))))
with gzip.open(out, "wt", compresslevel=6) as f:
    f.write("# generated blocklist for B12\n")
    f.writelines(lines)
EOF
note "generated $N ranges ($(stat -c %s "$T/big.gz") bytes gzipped) in $(since "$t0") s"
printf 'one:198.51.100.0-198.51.100.255\n' | gzip -c > "$T/small.gz"
cp "$T/small.gz" "$T/www/list.gz"
"$PY" "$TOP_SRCDIR/tests/lib/blocklist_server.py" --file "$T/www/list.gz" --bind 127.0.0.1:0 \
	--log "$T/www.log" --max-seconds 600 > "$T/www.out" 2>&1 &
GS_PIDS+=("$!")
for ((i = 0; i < 100; i++)); do grep -q '^READY' "$T/www.out" 2> /dev/null && break; sleep 0.05; done
WWW=$(awk '/^READY/{print $2}' "$T/www.out")
[ -n "$WWW" ] || fail "list host not ready"

vm() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }   # kB
wait_ranges() {   # wait_ranges REGEX SECONDS
	local i v
	for ((i = 0; i < $2 * 10; i++)); do
		v=$(metric blocklist_ranges) && printf '%s' "$v" | grep -Eq -- "$1" && return 0
		sleep 0.1
	done
	fail "blocklist_ranges = '$v', want /$1/ within $2 s"
}

gsb_gostream gs "\"blocklist_url\": \"http://$WWW/list.gz\"" '"blocklist_refresh_seconds": 5'
wait_ranges '^1$' 10
sleep 1
rss_small=$(vm "$GS_PID" VmRSS)
cp "$T/big.gz" "$T/www/list.gz.tmp" && mv "$T/www/list.gz.tmp" "$T/www/list.gz"
wait_ranges "^$N\$" 60
dl_load=$(metric blocklist_load_seconds)
dl_cpu=$(metric blocklist_load_cpu_seconds)
sleep 1
rss_big=$(vm "$GS_PID" VmRSS)
hwm=$(vm "$GS_PID" VmHWM)
note "download load ${dl_load} s (${dl_cpu} s CPU); VmRSS ${rss_small} -> ${rss_big} kB, VmHWM ${hwm} kB"
gsb_gostream_stop

# Restarts: the saved copy goes into the filter before the API port opens.
: > "$T/saved.s"
: > "$T/start.s"
: > "$T/saved.cpu"
# (the host keeps serving the same list: each start's refresh gets a 304)
for ((k = 0; k < BENCH_REPS; k++)); do
	t0=$(date +%s.%N)
	# same state dir: gsb_gostream names it after the first argument
	gsb_gostream gs "\"blocklist_url\": \"http://$WWW/list.gz\"" '"blocklist_refresh_seconds": 3600'
	for ((i = 0; i < 200; i++)); do
		curl -sf -o /dev/null --max-time 1 -X POST -d '{"action":"list"}' \
			"http://127.0.0.1:$GS_API_PORT/torrents" && break
		sleep 0.05
	done
	since "$t0" >> "$T/start.s"; echo >> "$T/start.s"
	[ "$(metric blocklist_source)" = saved ] || fail "restart $k: blocklist_source $(metric blocklist_source)"
	[ "$(metric blocklist_ranges)" = "$N" ] || fail "restart $k: $(metric blocklist_ranges) ranges"
	metric blocklist_load_seconds >> "$T/saved.s"
	metric blocklist_load_cpu_seconds >> "$T/saved.cpu"
	gsb_gostream_stop
done
s=$(summ 1 < "$T/saved.s")
c=$(summ 1 < "$T/saved.cpu")
st=$(summ 1 < "$T/start.s")
row what="blocklist load, $N ranges (saved copy at start)" unit=s \
	gostream="$(jq - 'round(j["p50"], 3)' <<< "$s")" reference=null ref_name="-" \
	target="< 1 s" check="g < 1" reps="$BENCH_REPS" \
	spread="$(jq - '"%.3f-%.3f s" % (j["min"], j["max"])' <<< "$s") wall, $(jq - '"%.3f" % j["p50"]' <<< "$c") s CPU (load average $(cut -d' ' -f1 /proc/loadavg)); after a download: ${dl_load} s (${dl_cpu} s CPU); process start to API ready $(jq - '"%.2f" % j["p50"]' <<< "$st") s" \
	raw_gostream="$s" raw_cpu="$c" download_load_s="$dl_load" download_load_cpu_s="$dl_cpu" start_to_api_s="$st"
row what="blocklist memory, $N ranges" unit=MiB \
	gostream="$(awk -v a="$rss_small" -v b="$rss_big" 'BEGIN { printf "%.1f", (b - a) / 1024 }')" \
	reference=null ref_name="-" target="(reported)" check="True" reps=1 \
	spread="VmRSS $((rss_small / 1024)) MiB with 1 range, $((rss_big / 1024)) MiB with $N; peak VmHWM $((hwm / 1024)) MiB while loading" \
	rss_small_kb="$rss_small" rss_big_kb="$rss_big" hwm_kb="$hwm"
