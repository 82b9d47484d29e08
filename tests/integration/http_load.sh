#!/usr/bin/env bash
# http_load.sh - concurrency on the stream port: 25 players streaming whole films at a
# paced rate (curl --limit-rate) from 5 torrents while a scan storm of 300 short probes
# (HEAD, the first 64 KiB, the last 1 MiB; 60 at a time) runs; every stream is
# byte-exact, every probe answers, and the probes' latency shows they are not starved
# by the streams (thread per connection: a stream waiting on the swarm holds only its
# own thread).
. "$TOP_SRCDIR/tests/lib/common.sh"
gs_need_swarm

mkdir -p "$T/data"
"$MKMEDIA" "$T/data/base.mkv" 16 || fail "mkmedia"
SIZE=$(stat -c %s "$T/data/base.mkv")
WANT=$(sha256sum < "$T/data/base.mkv" | cut -d' ' -f1)
hashes=()
for i in 1 2 3 4 5; do
	ln "$T/data/base.mkv" "$T/data/Load.Film.$i.mkv"
	hashes+=("$(gs_make_torrent "$T/data/Load.Film.$i.mkv" 1024 "$T/$i.torrent")")
done
gs_seed 127.0.0.18 "$T/data" "$T"/[1-5].torrent
gs_config "$T/c.json"
gs_start run --config "$T/c.json"
gs_wait_ready
B="http://127.0.0.1:$GS_STREAM_PORT"
for i in 1 2 3 4 5; do
	code=$(curl -s -o "$T/add.out" -w '%{http_code}' -X POST "http://127.0.0.1:$GS_API_PORT/torrents" \
		--data-binary "{\"action\":\"add\",\"link\":\"$T/$i.torrent\",\"title\":\"Load Film $i (2020)\",\"category\":\"movie\",\"peers\":[\"$SEED_EP\"]}")
	[ "$code" = 200 ] || fail "add $i: $code $(cat "$T/add.out")"
done

# 25 players: 5 per film, each paced at 4 MB/s so they overlap the whole storm.
t0=$(date +%s%N)
players=()
for p in $(seq 1 25); do
	hsh=${hashes[$(( (p - 1) % 5 ))]}
	( curl -s --max-time 50 --limit-rate 4M "$B/stream/$hsh/0" | sha256sum | cut -d' ' -f1 > "$T/player.$p" ) &
	players+=("$!")
done
sleep 0.5

# The storm: 300 probes, 60 at a time, each timed.
"$PY" - "$B" "$SIZE" "${hashes[@]}" > "$T/storm" <<'EOF' || fail "probe storm: $(cat "$T/storm")"
import concurrent.futures, http.client, sys, time, urllib.parse
base, size, hashes = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
u = urllib.parse.urlparse(base)
def probe(i):
    h = hashes[i % len(hashes)]
    kind = i % 3
    t = time.monotonic()
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    if kind == 0:
        c.request("HEAD", "/stream/%s/0" % h)
    elif kind == 1:
        c.request("GET", "/stream/%s/0" % h, headers={"Range": "bytes=0-65535"})
    else:
        c.request("GET", "/stream/%s/0" % h, headers={"Range": "bytes=-1048576"})
    r = c.getresponse()
    body = r.read()
    c.close()
    want = {0: (200, 0), 1: (206, 65536), 2: (206, 1048576)}[kind]
    return (r.status, len(body)) == want, time.monotonic() - t
with concurrent.futures.ThreadPoolExecutor(60) as ex:
    res = list(ex.map(probe, range(300)))
lat = sorted(t for _, t in res)
bad = sum(1 for ok, _ in res if not ok)
print("probes=%d bad=%d p50=%.0fms p95=%.0fms max=%.0fms" % (len(res), bad, lat[len(lat) // 2] * 1e3,
      lat[int(len(lat) * 0.95)] * 1e3, lat[-1] * 1e3))
sys.exit(1 if bad or lat[int(len(lat) * 0.95)] > 5.0 else 0)
EOF
ok
note "scan storm during 25 streams: $(cat "$T/storm")"
for p in "${players[@]}"; do wait "$p"; done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
for p in $(seq 1 25); do
	expect_eq "player $p sha256" "$(cat "$T/player.$p")" "$WANT"
done
note "25 paced streams of $SIZE bytes done in ${ms} ms"
gs_stop TERM 5
note "$checks checks"
echo "PASS: http_load"
