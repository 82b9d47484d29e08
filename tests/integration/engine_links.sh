#!/bin/bash
# engine_links.sh - every link form reaches the same bytes: magnet with x.pe=, bare
# info-hash with an explicit peer, .torrent path, http URL of the .torrent (libcurl).
# Then the lifecycle: a restart of the engine that loads the saved info dict and peers
# reads again with zero metadata fetches; a torrent left by its last reader goes to sleep
# after the disconnect timeout and wakes again without a metadata fetch.
set -u
. "$(dirname "$0")/../lib/bt_testlib.sh"

mkdir -p "$T/data" "$T/www"
head -c 12000000 /dev/urandom > "$T/data/clip.bin"
H=$(bt_make_torrent "$T/data/clip.bin" 256 "$T/www/clip.torrent")
bt_seed 127.0.0.4 "$T/data" "$T/www/clip.torrent"
head -c 3000000 "$T/data/clip.bin" > "$T/head.want"

check_head() { # NAME JSON OUT
	cmp -s "$3" "$T/head.want" || { cat "$2" "$2.err" >&2; bt_fail "$1: bytes differ"; }
}

# magnet: metadata from the peer, then a restart from the saved info dict
bt_run "$T/m.json" "magnet:?xt=urn:btih:$H&dn=clip&x.pe=$SEED_EP" "head:3000000:$T/m1.out" \
	restart "head:3000000:$T/m2.out" || { cat "$T/m.json" "$T/m.json.err" >&2; bt_fail "magnet"; }
check_head magnet "$T/m.json" "$T/m1.out"
check_head "after restart" "$T/m.json" "$T/m2.out"
bt_expect "$T/m.json" 'j["counters"]["metadata_fetches"] == 0 and j["counters"]["activations"] == 1' \
	"the restarted engine fetched metadata again"
bt_note "magnet add (metadata) $(bt_json "$T/m.json" 'j["ops"][0]["ms"]') ms; after restart:" \
	"wake+first byte $(bt_json "$T/m.json" 'j["ops"][3]["ms"] + j["ops"][4]["first_byte_ms"]') ms"

# bare info-hash needs a peer
bt_run "$T/h.json" --peer "$SEED_EP" "$H" "head:3000000:$T/h.out" ||
	{ cat "$T/h.json" "$T/h.json.err" >&2; bt_fail "hash form"; }
check_head hash "$T/h.json" "$T/h.out"
bt_expect "$T/h.json" 'j["counters"]["metadata_fetches"] == 1' "hash form counts one metadata fetch"

# http URL of the .torrent
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$PY" -m http.server "$PORT" --bind 127.0.0.1 --directory "$T/www" > /dev/null 2>&1 &
BT_PIDS+=("$!")
for ((i = 0; i < 100; i++)); do
	curl -sf -o /dev/null "http://127.0.0.1:$PORT/clip.torrent" && break
	sleep 0.1
done
bt_run "$T/u.json" --peer "$SEED_EP" "http://127.0.0.1:$PORT/clip.torrent" "head:3000000:$T/u.out" ||
	{ cat "$T/u.json" "$T/u.json.err" >&2; bt_fail "URL form"; }
check_head url "$T/u.json" "$T/u.out"
bt_run "$T/u404.json" "http://127.0.0.1:$PORT/nope.torrent" "head:1:$T/x" &&
	bt_fail "a 404 URL was accepted"
bt_expect "$T/u404.json" '"404" in j["ops"][0]["err"]' "404 not reported"

# .torrent path, then sleep (disconnect timeout 2 s in the driver) and wake
bt_run "$T/f.json" --peer "$SEED_EP" "$T/www/clip.torrent" "head:3000000:$T/f1.out" close \
	waitsleep:8000 open "head:3000000:$T/f2.out" fastdrop close waitsleep:5000 ||
	{ cat "$T/f.json" "$T/f.json.err" >&2; bt_fail ".torrent + lifecycle"; }
check_head torrent "$T/f.json" "$T/f1.out"
check_head "after wake" "$T/f.json" "$T/f2.out"
bt_expect "$T/f.json" 'j["counters"]["sleeps"] == 2 and j["counters"]["activations"] == 2' \
	"two sleeps and two wakes"
bt_expect "$T/f.json" 'j["counters"]["metadata_fetches"] == 0' "a wake fetched metadata"
bt_note "re-open of a sleeping torrent: $(bt_json "$T/f.json" 'j["ops"][5]["ms"]') ms, first byte" \
	"$(bt_json "$T/f.json" 'j["ops"][6]["first_byte_ms"]') ms (pieces kept in RAM)"
echo "PASS: engine_links"
