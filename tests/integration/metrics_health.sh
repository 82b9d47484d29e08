#!/usr/bin/env bash
# metrics_health.sh - GET /metrics (JSON: the brief's fields and ours, an active stream
# with its offset and rate while a rate-limited client plays a file), the Prometheus text
# format at /metrics?format=prometheus and /metrics/prometheus checked by a strict parser
# (prometheus_client + tests/lib/prom_check.py), and GET /health: 200 when everything is
# up, 503 naming FUSE when its mount is taken away under the daemon (root + /dev/fuse).
. "$TOP_SRCDIR/tests/lib/common.sh"
gs_need_swarm
"$PY" -c 'import prometheus_client' 2>/dev/null ||
	skip_missing "python3-prometheus-client missing (apt-get install python3-prometheus-client)"
PROMCHECK="$TOP_SRCDIR/tests/lib/prom_check.py"

mkdir -p "$T/data"
head -c $((48 << 20)) /dev/urandom > "$T/data/film.mkv"
h=$(gs_make_torrent "$T/data/film.mkv" 1024 "$T/f.torrent")
gs_seed 127.0.0.8 "$T/data" "$T/f.torrent"

fuse=0
if [ "$(id -u)" = 0 ] && [ -c /dev/fuse ] && command -v fusermount3 > /dev/null &&
	"$GOSTREAM" version 2>/dev/null | grep -qi 'fuse.*yes'; then
	fuse=1
fi
extra=()
[ "$fuse" = 1 ] && extra=("\"fuse_mount_path\": \"$T/mnt\"")
gs_config "$T/c.json" '"warmup_head_size_mb": 2' '"warmup_tail_size_mb": 2' "${extra[@]}"
gs_start run --config "$T/c.json"
gs_wait_ready
MURL="http://127.0.0.1:$GS_METRICS_PORT"

# ---- /health ----
code=$(curl -s -o "$T/h.json" -w '%{http_code}' "$MURL/health")
expect_eq "health" "$code" 200
hj=$(cat "$T/h.json")
expect_eq "health status" "$(json_get "$hj" status)" ok
want="['api', 'engine', 'library', 'metrics', 'stream']"
[ "$fuse" = 1 ] && want="['api', 'engine', 'fuse', 'library', 'metrics', 'stream']"
expect_eq "health components" "$(printf '%s' "$hj" | "$PY" -c 'import json,sys; c=json.load(sys.stdin)["components"]; print(sorted(k for k,v in c.items() if v=="up"))')" "$want"

# ---- JSON ----
curl -s -X POST "http://127.0.0.1:$GS_API_PORT/torrents" --data-binary \
	"{\"action\":\"add\",\"link\":\"$T/f.torrent\",\"title\":\"Film (2020)\",\"peers\":[\"$SEED_EP\"]}" \
	> "$T/add.json" || fail "add"
expect_match "add" "$(cat "$T/add.json")" "\"hash\":\"$h\""
# A player at 2 MiB/s: while it plays, /metrics shows the stream with its offset and rate.
curl -sf --limit-rate 2M "http://127.0.0.1:$GS_STREAM_PORT/movies/Film%20%282020%29.mkv" \
	-o "$T/film.out" &
player=$!
GS_PIDS+=("$player")
for ((i = 0; i < 200; i++)); do
	curl -sf "$MURL/metrics" > "$T/m.json" || fail "GET /metrics"
	[ "$(mq "any(s['playing'] and s['rate'] > 0 and s['offset'] > 0 for s in j['streams'])")" = True ] && break
	sleep 0.1
done
expect_eq "a playing stream with a rate" \
	"$(mq "[(s['hash'], s['path'], s['playing']) for s in j['streams'] if s['rate'] > 0]")" \
	"[('$h', 'movies/Film (2020).mkv', True)]"
for k in version uptime config_source read_ahead_active_bytes read_ahead_total_bytes \
	read_ahead_entries read_ahead_budget master_concurrency_limit natpmp_port cache_size_mb \
	cache_entries torrents_awake torrents_asleep torrents_catalogued peers pump_bytes \
	warmup_bytes warmup_quota strict_entries hash_failures; do
	[ "$(mq "'$k' in j")" = True ] || fail "/metrics lacks $k"; ok
done
expect_eq "version" "$(mq "j['version']")" "$("$GOSTREAM" version | head -n1 | awk '{print $2}')"
# (a finished download drops its seed-to-seed connections: peers may already be 0)
expect_eq "awake torrent listed" "$(mq "[(t['hash'], t['readers']) for t in j['torrents']]")" "[('$h', 1)]"
expect_eq "peers" "$(mq "j['peers'] >= 0 and j['peer_connections'] >= 1 and j['torrents_awake'] == 1")" True
expect_eq "shield" "$(mq "(j['shield']['state'], j['shield']['responsive_mode'])")" "('responsive', True)"
expect_eq "http counters" "$(mq "j['http']['requests'] >= 1 and j['http']['open_bodies'] == 1")" True
expect_eq "webhook block" "$(mq "(j['webhook']['requests'], j['webhook']['sessions'], j['webhook']['last_events'])")" "(0, [], [])"
wait "$player" || fail "the player's download failed"
cmp -s "$T/film.out" "$T/data/film.mkv" || fail "played bytes differ"; ok

# ---- Prometheus ----
for url in "$MURL/metrics?format=prometheus" "$MURL/metrics/prometheus"; do
	ct=$(curl -sf -o "$T/p.txt" -w '%{content_type}' "$url") || fail "GET $url"
	expect_eq "content type of $url" "$ct" "text/plain; version=0.0.4; charset=utf-8"
	"$PY" "$PROMCHECK" gostream_ < "$T/p.txt" > "$T/p.json" || { head -n 40 "$T/p.txt" >&2; fail "strict parse of $url"; }
	ok
done
pq() { "$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$T/p.json" "$1"; }
expect_eq "prom: http requests" "$(pq "j['gostream_http_requests_total'] >= 1")" True
expect_eq "prom: body bytes" "$(pq "j['gostream_http_body_bytes_total'] >= 48 << 20")" True
expect_eq "prom: torrents by state" "$(pq "j['gostream_torrents{state=\"awake\"}'] + j['gostream_torrents{state=\"asleep\"}']")" 1.0
expect_eq "prom: build info" "$(pq "[k for k in j if k.startswith('gostream_build_info')]")" \
	"['gostream_build_info{version=\"$(mq "j['version']")\"}']"
expect_eq "prom: served bytes by layer" "$(pq "sorted(k for k in j if k.startswith('gostream_served_bytes_total'))")" \
	"['gostream_served_bytes_total{layer=\"engine\"}', 'gostream_served_bytes_total{layer=\"ram\"}', 'gostream_served_bytes_total{layer=\"warmup\"}']"
expect_eq "prom: webhook events" "$(pq "len([k for k in j if k.startswith('gostream_webhook_events_total')])")" 7
code=$(curl -s -o "$T/r" -w '%{http_code}' "$MURL/metrics?format=xml")
expect_eq "unknown format" "$code" 400
expect_match "unknown format reason" "$(cat "$T/r")" 'format must be json or prometheus'
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$MURL/metrics")
expect_eq "POST /metrics" "$code" 405

# ---- /health names what is down ----
if [ "$fuse" = 1 ]; then
	umount -l "$T/mnt" || fail "cannot unmount $T/mnt"
	code=$(curl -s -o "$T/h.json" -w '%{http_code}' "$MURL/health")
	expect_eq "health without the mount" "$code" 503
	hj=$(cat "$T/h.json")
	expect_eq "health names fuse" "$(json_get "$hj" down)" "['fuse']"
	expect_eq "health degraded" "$(json_get "$hj" status)" degraded
else
	note "no FUSE here (root, /dev/fuse, fusermount3, a FUSE build): 503 path not exercised"
fi
gs_stop TERM 10
note "$checks checks"
