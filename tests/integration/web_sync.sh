#!/usr/bin/env bash
# web_sync.sh - the dashboard's sync controls, NAT-PMP and blocklist cards in a real
# browser (Debian chromium, playwright-core: tests/lib/web_browser.js sync) against the
# real daemon with an API token, the fake TMDB/Torrentio/Plex services (fake_services.py),
# a loopback seeder, a local blocklist host (blocklist_server.py) and a NAT-PMP gateway on
# loopback (natpmp_gateway.py, refusing: no mapping, so no iptables rule is ever made):
# after logging in, "Sync movies" on the page starts a run; its log lines stream into the
# page (fetch() with the token header: an EventSource cannot send it), the progress shows
# looked at 3 / added 2 / skipped 1 / errors 0, and the added films appear in the library
# table with Heat's TMDB poster (tmdb_image_base_url + poster_path, served by the fake);
# the blocklist card shows the range count /metrics reports and the NAT-PMP card
# the gateway's refusal. No console errors. /sync and /sync/events on the page's port
# refuse requests without X-Gostream-Page (CSRF) and without the token.
. "$TOP_SRCDIR/tests/lib/common.sh"
. "$TOP_SRCDIR/tests/lib/disc_testlib.sh"
disc_need
[ -x /usr/bin/chromium ] || skip_missing "chromium missing (apt-get install chromium)"
command -v node >/dev/null || skip_missing "node missing (apt-get install nodejs)"
[ -d "$TOP_SRCDIR/tests/lib/node_modules/playwright-core" ] ||
	skip_missing "playwright-core missing (cd tests/lib && npm install: scripts/setup.sh test does it)"

mkfile "$T/data/Heat.1995.2160p.REMUX.DV.mkv" 1600
mkfile "$T/data/The.Matrix.1999.1080p.REMUX.mkv" 1600
mkfile "$T/data/The.Matrix.1999.2160p.HDR.mkv" 1600
export H_HEAT_4K=$(gs_make_torrent "$T/data/Heat.1995.2160p.REMUX.DV.mkv" 256 "$T/heat.torrent")
export H_MATRIX_1080=$(gs_make_torrent "$T/data/The.Matrix.1999.1080p.REMUX.mkv" 256 "$T/m1.torrent")
export H_MATRIX_4K=$(gs_make_torrent "$T/data/The.Matrix.1999.2160p.HDR.mkv" 256 "$T/m4.torrent")
export H_HEAT_1080=1111111111111111111111111111111111111111
gs_seed 127.0.0.73 "$T/data" "$T/heat.torrent" "$T/m1.torrent" "$T/m4.torrent"

disc_fake_start
disc_scenario '{"peers": ["'$SEED_EP'"], "routes": {
 "tmdb:/discover/movie": {"file": "tmdb_discover_movie.json"},
 "tmdb:/movie/now_playing": {"file": "tmdb_now_playing.json"},
 "tmdb:/movie/popular": {"file": "tmdb_popular_movie.json"},
 "tmdb:/trending/movie/week": {"file": "tmdb_trending_movie.json"},
 "tmdb:/movie/949/external_ids": {"file": "tmdb_external_ids_949.json"},
 "tmdb:/movie/603/external_ids": {"file": "tmdb_external_ids_603.json"},
 "tmdb:/movie/693134/external_ids": {"file": "tmdb_external_ids_693134.json"},
 "torrentio:/stream/movie/tt0113277.json": {"file": "torrentio_heat.json"},
 "torrentio:/stream/movie/tt0133093.json": {"file": "torrentio_matrix.json"},
 "torrentio:/stream/movie/tt15239678.json": {"file": "torrentio_dune.json"}}}'

# The blocklist: three IPv4 ranges and a CIDR, none of them loopback.
mkdir -p "$T/www"
printf '%s\n' '# web_sync.sh list' 'Some ISP:10.0.0.0-10.0.255.255' 'Other:198.51.100.0-198.51.100.255' \
	'001.002.005.000 - 001.002.005.255 , 000 , an eMule DAT entry' '192.0.2.0/24' |
	gzip -9 -n > "$T/www/list.gz"
"$PY" "$TOP_SRCDIR/tests/lib/blocklist_server.py" --file "$T/www/list.gz" --bind 127.0.0.1:0 \
	--log "$T/www.log" --max-seconds 600 > "$T/www.out" 2>&1 &
GS_PIDS+=("$!")
for ((i = 0; i < 100; i++)); do grep -q '^READY' "$T/www.out" 2> /dev/null && break; sleep 0.05; done
WWW=$(awk '/^READY/{print $2}' "$T/www.out")
[ -n "$WWW" ] || fail "list host not ready"

# The NAT-PMP gateway on a loopback address of its own (the port is RFC 6886's 5351),
# answering every mapping with result 2 (not authorized).
GW=127.0.0.74
echo '{"mode": "error", "result": 2}' > "$T/gw.json"
"$PY" "$TOP_SRCDIR/tests/lib/natpmp_gateway.py" --bind "$GW:5351" --control "$T/gw.json" \
	--log "$T/gw.log" --max-seconds 600 > "$T/gw.out" 2>&1 &
GS_PIDS+=("$!")
for ((i = 0; i < 100; i++)); do grep -q '^READY' "$T/gw.out" 2> /dev/null && break; sleep 0.05; done
grep -q '^READY' "$T/gw.out" || { cat "$T/gw.out" >&2; fail "NAT-PMP gateway not ready"; }

TOKEN="tok-$RANDOM$RANDOM-sync"
GS_ENGINE_EXTRA=', "MetadataTimeoutSeconds": 30' disc_config "$T/c.json" \
	'"discovery": { "movies_schedule": "off", "tv_schedule": "off", "watchlist_schedule": "off", "retries": 2, "backoff_ms": 200, "timeout_seconds": 3 }' \
	"\"api_token\": \"$TOKEN\"" "\"blocklist_url\": \"http://$WWW/list.gz\"" \
	"\"tmdb_image_base_url\": \"$FAKE_URL/tmdbimg/t/p/w92\"" \
	"\"natpmp\": { \"enabled\": true, \"gateway\": \"$GW\", \"refresh_seconds\": 5 }"
gs_start run --config "$T/c.json"
gs_wait_ready
M="http://127.0.0.1:$GS_METRICS_PORT"

# CSRF and auth on the page's port, without a browser.
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -X POST "$M/sync" -d '{"action":"status"}')
expect_eq "POST /sync without X-Gostream-Page" "$code" 403
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $TOKEN" "$M/sync/events")
expect_eq "GET /sync/events without X-Gostream-Page" "$code" 403
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'X-Gostream-Page: 1' "$M/sync/events")
expect_eq "GET /sync/events without the token" "$code" 401
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Gostream-Page: 1' -X POST "$M/sync" -d '{"action":"start","kind":"movies"}')
expect_eq "POST /sync start without the token" "$code" 401

# The blocklist is loaded before the page looks (its count is what the card must show).
for ((i = 0; i < 100; i++)); do
	n=$(json_get "$(curl -sf -H "Authorization: Bearer $TOKEN" "$M/metrics")" blocklist_ranges) && [ "${n:-0}" -gt 0 ] && break
	sleep 0.1
done
[ "${n:-0}" -gt 0 ] || fail "blocklist not loaded (blocklist_ranges '$n')"; ok
BL_RANGES=$n

export GS_M="$M" TOKEN BL_RANGES H_HEAT_4K H_MATRIX_1080 IMG_BASE="$FAKE_URL/tmdbimg/t/p/w92"
timeout -k 5 240 node "$TOP_SRCDIR/tests/lib/web_browser.js" sync > "$T/node.out" 2>&1
rc=$?
cat "$T/node.out" >&2
[ "$rc" = 0 ] || fail "browser scenario failed (status $rc)"
grep -q '^done$' "$T/node.out" || fail "browser scenario did not finish"
checks=$((checks + $(grep -c '^ok ' "$T/node.out")))

# What the page started is a real run: the API's status agrees with what the page showed.
st=$(curl -s -H "Authorization: Bearer $TOKEN" -X POST "http://127.0.0.1:$GS_API_PORT/sync" -d '{"action":"status"}')
expect_eq "the run the page started" "$(jpy "$st" '(j["last"]["kind"], j["last"]["trigger"], j["last"]["state"], j["last"]["progress"]["added"])')" \
	"('movies', 'api', 'ok', 2)"
grep -q "$TOKEN" "$T/gs.log" && fail "the token is in the log"; ok
expect_eq "Heat's record keeps the TMDB poster URL" \
	"$(jpy "$(curl -s -H "Authorization: Bearer $TOKEN" -X POST "http://127.0.0.1:$GS_API_PORT/torrents" -d '{"action":"get","hash":"'$H_HEAT_4K'"}')" 'j["poster"]')" \
	"$FAKE_URL/tmdbimg/t/p/w92/p949.jpg"
[ "$(fake_count '^tmdbimg:/t/p/w92/p949\.jpg$')" -ge 1 ] || fail "the page never asked the image server for Heat's poster"; ok
gs_stop TERM 10
echo "web_sync: $checks checks passed"
