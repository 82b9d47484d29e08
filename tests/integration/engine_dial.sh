#!/bin/bash
# engine_dial.sh - how the engine dials peers, on its default settings (TCP and uTP on).
# libtorrent alone dials uTP first and falls back to TCP after its uTP connect timeout,
# 4-5 s against a peer that takes TCP only; the engine dials TCP first (bt_plugins.cc,
# tcp_first). A TCP-only seeder: the first 64 KiB in the middle of the film after the
# torrent is opened, and again after an engine restart (torrent loaded from its saved info
# dict and peers), each well under the uTP timeout. A seeder that takes uTP only (incoming
# TCP accepted and closed at once): the read still gets its bytes, over uTP after the
# failed TCP attempt, and once the torrent slept and woke again uTP is dialled first.
set -u
. "$(dirname "$0")/../lib/bt_testlib.sh"

SIZE=$((16 * 1048576))
mkdir -p "$T/data"
head -c "$SIZE" /dev/urandom > "$T/data/film.bin"
bt_make_torrent "$T/data/film.bin" 256 "$T/film.torrent" > /dev/null
mid=$((SIZE / 2 + 12345)) q=$((SIZE / 4 * 3))

bt_seed 127.0.0.21 "$T/data" "$T/film.torrent"
bt_run "$T/tcp.json" --timeout-ms 20000 --peer "$SEED_EP" "$T/film.torrent" \
	"read:$mid:65536" restart "read:$q:65536" ||
	{ cat "$T/tcp.json" "$T/tcp.json.err" >&2; bt_fail "reads from the TCP-only seeder failed"; }
a=$(bt_json "$T/tcp.json" 'j["ops"][2]["first_byte_ms"]')
b=$(bt_json "$T/tcp.json" 'j["ops"][4]["first_byte_ms"]')
bt_note "TCP-only seeder: first 64 KiB after open $a ms, after a restart $b ms"
bt_expect "$T/tcp.json" 'j["ops"][2]["first_byte_ms"] < 1500' "first read took $a ms (uTP-first dial?)"
bt_expect "$T/tcp.json" 'j["ops"][4]["first_byte_ms"] < 1500' "read after restart took $b ms (uTP-first dial?)"

bt_seed 127.0.0.22 "$T/data" --utp-only "$T/film.torrent"
bt_run "$T/utp.json" --timeout-ms 30000 --readahead-mb 1 --peer "$SEED_EP" "$T/film.torrent" \
	"read:$mid:65536" close waitsleep:15000 open "read:$q:65536" ||
	{ cat "$T/utp.json" "$T/utp.json.err" >&2; bt_fail "reads from the uTP-only seeder failed"; }
a=$(bt_json "$T/utp.json" 'j["ops"][2]["first_byte_ms"]')
b=$(bt_json "$T/utp.json" 'j["ops"][6]["first_byte_ms"]')
bt_note "uTP-only seeder: first 64 KiB after the TCP attempt $a ms, after sleep and wake $b ms"
bt_expect "$T/utp.json" 'j["ops"][2]["first_byte_ms"] < 15000' "uTP fallback took $a ms"
# A TCP dial again would cost the refused connection and then the engine's stall kick
# (500 ms with no peer) or libtorrent's reconnect delay (2 s) before uTP: >= 500 ms.
bt_expect "$T/utp.json" 'j["ops"][6]["first_byte_ms"] < 400' "read after the wake took $b ms (TCP dialled again?)"
echo "PASS: engine_dial"
