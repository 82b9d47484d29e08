#!/usr/bin/env bash
# api_torrents.sh - POST /torrents against the real daemon: add (.torrent path, magnet with
# x.pe, info-hash with peers, http URL of a .torrent), get, set, list (newest first, wakes nothing), active, rem,
# wipe, persistence across a restart, and every error path with its status and reason.
. "$TOP_SRCDIR/tests/lib/common.sh"
gs_need_swarm

mkdir -p "$T/data"
"$MKMEDIA" "$T/data/a.mkv" 8 || fail mkmedia
cp "$T/data/a.mkv" "$T/data/b.mkv"
ha=$(gs_make_torrent "$T/data/a.mkv" 256 "$T/a.torrent")
hb=$(gs_make_torrent "$T/data/b.mkv" 256 "$T/b.torrent")
gs_seed 127.0.0.6 "$T/data" "$T/a.torrent" "$T/b.torrent"

gs_config "$T/c.json"
gs_start run --config "$T/c.json"
gs_wait_ready
API="http://127.0.0.1:$GS_API_PORT/torrents"
# post BODY -> sets $code and $body
post() { code=$(curl -s -o "$T/resp" -w '%{http_code}' -X POST "$API" --data-binary "$1"); body=$(cat "$T/resp"); }

post "{\"action\":\"add\",\"link\":\"$T/a.torrent\",\"title\":\"Alpha (2001)\",\"imdb\":\"tt0000001\",\"peers\":[\"$SEED_EP\"]}"
expect_eq "add .torrent" "$code" 200
expect_eq "add hash" "$(json_get "$body" hash)" "$ha"
expect_eq "add title" "$(json_get "$body" title)" "Alpha (2001)"
expect_match "add file_stats" "$body" '"file_stats":\[\{"id":1,"path":"a.mkv","length":[0-9]+\}\]'
sleep 1.1
post "{\"action\":\"add\",\"link\":\"magnet:?xt=urn:btih:$hb&dn=b&x.pe=$SEED_EP\",\"title\":\"Beta (2002)\",\"category\":\"movie\"}"
expect_eq "add magnet" "$code" 200
expect_eq "magnet hash" "$(json_get "$body" hash)" "$hb"

post '{"action":"list"}'
expect_eq "list" "$code" 200
order=$(printf '%s' "$body" | "$PY" -c 'import json,sys; print(" ".join(t["hash"] for t in json.load(sys.stdin)))')
expect_eq "list newest first" "$order" "$hb $ha"
post "{\"action\":\"get\",\"hash\":\"${ha^^}\"}"
expect_eq "get (upper-case hash)" "$code" 200
expect_eq "get imdb" "$(json_get "$body" imdb)" "tt0000001"
post "{\"action\":\"set\",\"hash\":\"$ha\",\"title\":\"Alpha Renamed (2001)\",\"poster\":\"http://p/x.jpg\"}"
expect_eq "set" "$code" 200
expect_eq "set title" "$(json_get "$body" title)" "Alpha Renamed (2001)"
post '{"action":"active"}'
expect_eq "active" "$code" 200
expect_eq "active is empty (nothing read)" "$body" "[]"
m=$(curl -sf "http://127.0.0.1:$GS_METRICS_PORT/metrics")
expect_eq "listing woke nothing" "$(json_get "$m" activations)" 0

# Errors: status and a reason naming what is wrong.
bad() { post "$1"; expect_eq "status for $1" "$code" "$2"; expect_match "reason for $1" "$body" "$3"; }
bad '{"action":"fly"}' 400 'unknown action \\"fly\\"'
bad '{"link":"x"}' 400 'missing field \\"action\\"'
bad 'not json' 400 'body must be a JSON object'
bad '[1,2]' 400 'body must be a JSON object'
bad '{"action":"add"}' 400 'missing field \\"link\\"'
bad '{"action":"add","link":"magnet:?xt=urn:btih:zz"}' 400 '"error":'
bad "{\"action\":\"add\",\"link\":\"$T/nope.torrent\"}" 400 '"error":'
bad "{\"action\":\"add\",\"link\":\"$T/c.json\"}" 400 '"error":'
bad "{\"action\":\"add\",\"link\":\"$T/a.torrent\",\"category\":\"music\"}" 400 'category must be'
bad "{\"action\":\"add\",\"link\":\"$T/a.torrent\",\"imdb\":\"12345\"}" 400 'imdb must look like'
bad "{\"action\":\"add\",\"link\":\"$T/a.torrent\",\"files\":[5]}" 400 'file index 5 out of range'
bad "{\"action\":\"add\",\"link\":\"$T/a.torrent\",\"files\":\"all\"}" 400 'files must be an array'
bad "{\"action\":\"add\",\"link\":\"$T/a.torrent\",\"peers\":[\"nohost\"]}" 400 'peers\[0\] must be'
bad '{"action":"add","link":7}' 400 'must be strings'
bad '{"action":"get"}' 400 'missing field \\"hash\\"'
bad '{"action":"get","hash":"xyz"}' 400 'hash must be 40 hex digits'
bad '{"action":"get","hash":"0000000000000000000000000000000000000000"}' 404 'unknown torrent hash'
bad '{"action":"rem","hash":"0000000000000000000000000000000000000000"}' 404 'unknown torrent hash'
bad "{\"action\":\"set\",\"hash\":\"$ha\",\"category\":\"x\"}" 400 'category must be'
head -c 1100000 /dev/zero | tr '\0' 'a' > "$T/big"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$API" --data-binary @"$T/big")
expect_eq "oversized body" "$code" 413
code=$(curl -s -o /dev/null -w '%{http_code}' "$API")
expect_eq "GET /torrents" "$code" 405

# An http URL of a .torrent: the daemon downloads it (torrent_fetch.c, libcurl) and adds
# the bytes; a 404 is refused with the server's answer in the reason.
mkdir -p "$T/www"
cp "$T/data/a.mkv" "$T/data/c.mkv"
hc=$(gs_make_torrent "$T/data/c.mkv" 256 "$T/www/c.torrent")
WPORT=$(gs_free_port)
"$PY" -m http.server "$WPORT" --bind 127.0.0.1 --directory "$T/www" > /dev/null 2>&1 &
GS_PIDS+=("$!")
curl -sf --retry 50 --retry-connrefused --retry-delay 0 --retry-max-time 10 -o /dev/null \
	"http://127.0.0.1:$WPORT/c.torrent" || fail "the .torrent's web server did not start"
post "{\"action\":\"add\",\"link\":\"http://127.0.0.1:$WPORT/c.torrent\",\"title\":\"Gamma (2003)\"}"
expect_eq "add by URL" "$code" 200
expect_eq "add by URL hash" "$(json_get "$body" hash)" "$hc"
post "{\"action\":\"rem\",\"hash\":\"$hc\"}"
expect_eq "rem the URL's torrent" "$code" 200
post "{\"action\":\"add\",\"link\":\"http://127.0.0.1:$WPORT/nope.torrent\"}"
expect_eq "add by URL, 404: status (the .torrent's server failed: Bad Gateway)" "$code" 502
expect_match "add by URL, 404: reason" "$body" 'fetching http://127.0.0.1:[0-9]+/nope.torrent: .*404'

# Persistence: the records survive a restart; the daemon still answers after the garbage.
gs_stop TERM 5
gs_start run --config "$T/c.json"
gs_wait_ready
post '{"action":"list"}'
n=$(printf '%s' "$body" | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')
expect_eq "records after restart" "$n" 2
post "{\"action\":\"get\",\"hash\":\"$ha\"}"
expect_eq "renamed title kept" "$(json_get "$body" title)" "Alpha Renamed (2001)"
post "{\"action\":\"rem\",\"hash\":\"$ha\"}"
expect_eq "rem" "$code" 200
post "{\"action\":\"get\",\"hash\":\"$ha\"}"
expect_eq "gone after rem" "$code" 404
post '{"action":"wipe"}'
expect_eq "wipe" "$code" 200
post '{"action":"list"}'
expect_eq "empty after wipe" "$body" "[]"
gs_stop TERM 5
note "$checks checks"
