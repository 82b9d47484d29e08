#!/usr/bin/env bash
# blocklist_filter.sh - the peer blocklist against a local list host (tests/lib/
# blocklist_server.py: ETag, Last-Modified, 304) and two loopback seeders of one film:
# the gzipped list (P2P, eMule DAT, CIDR, IPv6, a malformed line) puts the second
# seeder's address in a range; the film streams byte-exact from the first while the
# engine refuses the second (counted in /metrics, the seeder uploads nothing). The next
# refresh is a conditional GET answered 304; a corrupt and a truncated gzip and an HTML
# page keep the list in use and say why; after a restart, with the host still serving the
# truncated file, the saved copy is in the filter before the first peer connection.
. "$TOP_SRCDIR/tests/lib/common.sh"
gs_need_swarm

mkdir -p "$T/data" "$T/www"
"$MKMEDIA" "$T/data/film.mkv" 16 || fail "mkmedia"
SRC="$T/data/film.mkv"
h=$(gs_make_torrent "$SRC" 1024 "$T/film.torrent")
gs_seed 127.0.0.21 "$T/data" "$T/film.torrent"
GOOD_EP=$SEED_EP
gs_seed 127.0.0.22 "$T/data" "$T/film.torrent"
BAD_EP=$SEED_EP
BAD_PID=${GS_PIDS[-1]}

cat > "$T/list.txt" <<'EOF'
# gostream test blocklist
Bad seeder, for the test:127.0.0.22-127.0.0.22
Some ISP:10.0.0.0-10.0.255.255
001.002.005.000 - 001.002.005.255 , 000 , an eMule DAT entry
192.0.2.0/24
v6 net:2001:db8::-2001:db8::ffff
this line is garbage
EOF
gzip -9 -n -c "$T/list.txt" > "$T/good.gz"
cp "$T/good.gz" "$T/www/list.gz"
"$PY" "$TOP_SRCDIR/tests/lib/blocklist_server.py" --file "$T/www/list.gz" --bind 127.0.0.1:0 \
	--log "$T/www.log" --max-seconds 300 > "$T/www.out" 2>&1 &
GS_PIDS+=("$!")
for ((i = 0; i < 100; i++)); do grep -q '^READY' "$T/www.out" 2> /dev/null && break; sleep 0.05; done
WWW=$(awk '/^READY/{print $2}' "$T/www.out")
[ -n "$WWW" ] || fail "list host not ready"
URL="http://$WWW/list.gz"

GS_ENGINE_EXTRA=', "UseDisk": false'
gs_config "$T/c.json" '"log_level": "debug"' "\"blocklist_url\": \"$URL\"" \
	'"blocklist_refresh_seconds": 5'
M="http://127.0.0.1"
metric() { json_get "$(curl -sf "$M:$GS_METRICS_PORT/metrics")" "$1"; }
wait_metric() {
	local i v
	for ((i = 0; i < $3 * 10; i++)); do
		v=$(metric "$1") && printf '%s' "$v" | grep -Eq -- "$2" && { ok; return 0; }
		sleep 0.1
	done
	fail "metric $1 = '$v', want /$2/ within $3 s"
}
# swap FILE: the host serves FILE's bytes from now on
swap() { cp "$1" "$T/www/list.gz.tmp" && mv "$T/www/list.gz.tmp" "$T/www/list.gz"; }

gs_start run --config "$T/c.json"
gs_wait_ready
wait_metric blocklist_source '^download$' 10
expect_eq "ranges (4 IPv4 + 1 IPv6)" "$(metric blocklist_ranges)" 5
expect_eq "IPv6 ranges" "$(metric blocklist_ranges_ipv6)" 1
expect_eq "malformed lines skipped" "$(metric blocklist_malformed_lines)" 1
expect_eq "no error" "$(metric blocklist_last_error)" ""
[ "$(metric blocklist_last_refresh)" -ge "$(($(date +%s) - 30))" ] || fail "last refresh not recent"; ok
[ -s "$T/state/blocklist.list" ] && grep -q "^url $URL\$" "$T/state/blocklist.meta" ||
	fail "no saved copy in state_dir"; ok

code=$(curl -s -o "$T/add.out" -w '%{http_code}' -X POST "$M:$GS_API_PORT/torrents" --data-binary \
	"{\"action\":\"add\",\"link\":\"$T/film.torrent\",\"title\":\"Blocked Film (2022)\",\"category\":\"movie\",\"peers\":[\"$BAD_EP\",\"$GOOD_EP\"]}")
[ "$code" = 200 ] || fail "add: $code $(cat "$T/add.out")"
U="$M:$GS_STREAM_PORT/stream/$h/0"
curl -sf -o "$T/got" "$U" || fail "GET the film"
cmp -s "$T/got" "$SRC" || fail "film differs"; ok
refused=$(metric blocklist_refused_connections)
[ "$refused" -ge 1 ] || fail "no connection refused by the blocklist (got $refused)"; ok
grep -q "blocked peer 127.0.0.22\|127.0.0.22.*blocked" "$T/gs.log" || fail "no 'blocked' log line for 127.0.0.22"; ok
grep -q "connecting to peer.*127.0.0.22\|127.0.0.22.*outgoing connection" "$T/gs.log" &&
	fail "the engine connected to the blocked seeder"; ok
note "film streamed from $GOOD_EP; $refused connection(s) to $BAD_EP refused"

# Conditional GET on the next refresh: 304, list unchanged.
wait_metric blocklist_not_modified '^[1-9]' 15
grep -q 'inm="[0-9a-f]\{40\}" .* -> 304' "$T/www.log" || fail "no conditional GET answered 304"; ok
expect_eq "ranges after 304" "$(metric blocklist_ranges)" 5

# A corrupt gzip: refused, the list in use kept.
"$PY" -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[len(b)//2]^=0x5a; open(sys.argv[2],"wb").write(b)' \
	"$T/good.gz" "$T/corrupt.gz"
swap "$T/corrupt.gz"
wait_metric blocklist_failures '^[1-9]' 15
expect_match "corrupt gzip error" "$(metric blocklist_last_error)" 'gzip: corrupt or truncated data'
expect_eq "ranges after a corrupt gzip" "$(metric blocklist_ranges)" 5
grep -q "keeping the list in use (5 ranges)" "$T/gs.log" || fail "no 'keeping' log line"; ok

# A truncated gzip: the same.
head -c $(($(stat -c %s "$T/good.gz") - 9)) "$T/good.gz" > "$T/trunc.gz"
swap "$T/trunc.gz"
f0=$(metric blocklist_failures)
wait_metric blocklist_failures "^([2-9]|[1-9][0-9])" 15
expect_match "truncated gzip error" "$(metric blocklist_last_error)" 'gzip: corrupt or truncated data'
expect_eq "ranges after a truncated gzip" "$(metric blocklist_ranges)" 5
# An HTML error page served with 200 (a rate limit, a captive portal): not a list.
printf '<!DOCTYPE html>\n<html>\n<head><title>429</title></head>\n<body>slow down</body>\n</html>\n' > "$T/page.html"
swap "$T/page.html"
wait_metric blocklist_last_error 'not a blocklist: 0 ranges' 15
expect_eq "ranges after an HTML page" "$(metric blocklist_ranges)" 5
cmp -s "$T/state/blocklist.list" "$T/good.gz" || fail "the saved copy is not the last good list"; ok
swap "$T/trunc.gz"
gs_stop TERM 5

# Restart while the host still serves the truncated file: the saved copy is loaded at
# start, before any peer connection; the woken torrent again refuses the bad seeder.
gs_start run --config "$T/c.json"
gs_wait_ready
expect_eq "source after restart" "$(metric blocklist_source)" saved
expect_eq "ranges after restart" "$(metric blocklist_ranges)" 5
curl -sf -o "$T/got2" "$U" || fail "GET the film after the restart"
cmp -s "$T/got2" "$SRC" || fail "film differs after the restart"; ok
[ "$(metric blocklist_refused_connections)" -ge 1 ] || fail "saved list did not refuse the bad seeder"; ok
wait_metric blocklist_failures '^[1-9]' 15
expect_eq "ranges still from the saved copy" "$(metric blocklist_ranges)" 5
curl -sf "$M:$GS_METRICS_PORT/metrics/prometheus" | grep -q '^gostream_blocklist_ranges 5$' ||
	fail "prometheus gostream_blocklist_ranges"; ok
gs_stop TERM 5

# A damaged parsed cache (blocklist.ranges) falls back to the saved list itself.
[ -s "$T/state/blocklist.ranges" ] || fail "no blocklist.ranges in state_dir"; ok
head -c 20 "$T/state/blocklist.ranges" > "$T/r" && mv "$T/r" "$T/state/blocklist.ranges"
gs_start run --config "$T/c.json"
gs_wait_ready
expect_eq "source with a damaged cache" "$(metric blocklist_source)" saved
expect_eq "ranges with a damaged cache" "$(metric blocklist_ranges)" 5
gs_stop TERM 5

kill -TERM "$BAD_PID"
for ((i = 0; i < 50; i++)); do kill -0 "$BAD_PID" 2> /dev/null || break; sleep 0.1; done
bad_err=$(grep -l "^READY $BAD_EP" "$T"/seed.* | head -n1).err
grep -q 'uploaded [1-9]' "$bad_err" && fail "the blocked seeder uploaded: $(cat "$bad_err")"; ok
note "$checks checks"
