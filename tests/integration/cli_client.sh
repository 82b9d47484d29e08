#!/usr/bin/env bash
# cli_client.sh - `gostream add|ls|rm|status` against the real daemon (API token on):
# address and token from the same config file, readable tables, --json that parses,
# the progress line while add waits, a unique hash prefix for rm, and the failures:
# usage errors (exit 2), a bad config (3), a refused or wrong token, an unknown hash and
# an unreachable daemon (1), each with a message that says what is wrong.
. "$TOP_SRCDIR/tests/lib/common.sh"
gs_need_swarm

mkdir -p "$T/data"
"$MKMEDIA" "$T/data/a.mkv" 24 || fail mkmedia
cp "$T/data/a.mkv" "$T/data/b.mkv"
ha=$(gs_make_torrent "$T/data/a.mkv" 256 "$T/a.torrent")
hb=$(gs_make_torrent "$T/data/b.mkv" 256 "$T/b.torrent")
gs_seed 127.0.0.51 "$T/data" "$T/a.torrent" "$T/b.torrent"

gs_config "$T/c.json" '"api_token": "cli-secret-7"'
gs_start run --config "$T/c.json"
gs_wait_ready
# gs CMD ARGS...: the client with this config; sets $rc, $out, $err
gs() {
	out=$("$GOSTREAM" "$@" 2> "$T/err"); rc=$?; err=$(cat "$T/err")
	grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$T/err" &&
		fail "sanitizer report from gostream $*: $err"
	return 0
}

gs add "$T/a.torrent" --title "Alpha (2001)" --category movie --imdb tt0000001 --peer "$SEED_EP" --config "$T/c.json"
expect_eq "add status" "$rc" 0
expect_match "add prints the torrent" "$out" "$ha +movie +[0-9.]+ MiB +asleep +0 +Alpha \(2001\)"
expect_match "add lists the files with ids" "$out" '1 +[0-9.]+ MiB +a.mkv'
expect_match "add progress line" "$err" "adding $T/a.torrent \(waiting for the daemon to fetch the metadata\)"
sleep 1.1
gs add "magnet:?xt=urn:btih:$hb&x.pe=$SEED_EP" --title "Beta (2002)" --category tv --json --config "$T/c.json"
expect_eq "add --json status" "$rc" 0
expect_eq "add --json hash" "$(json_get "$out" hash)" "$hb"
expect_eq "add --json category" "$(json_get "$out" category)" "tv"

gs ls --config "$T/c.json"
expect_eq "ls status" "$rc" 0
expect_match "ls header" "$out" '^HASH +CAT +SIZE +STATE +PEERS +TITLE'
expect_eq "ls rows, newest first" "$(printf '%s\n' "$out" | awk 'NR>1{print $1}' | tr '\n' ' ')" "$hb $ha "
gs ls --json --config "$T/c.json"
expect_eq "ls --json" "$(printf '%s' "$out" | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')" 2

# status: version, counts, and the awake torrents after playback. 6 MiB read in order
# from the start is playback (a file only probed, its head or tail, goes back to sleep as
# soon as it is closed; a played one stays awake TorrentDisconnectTimeout).
curl -s -o /dev/null -r 0-6291455 "http://127.0.0.1:$GS_STREAM_PORT/stream/$ha/0" || fail "read"
gs status --config "$T/c.json"
expect_eq "status" "$rc" 0
expect_match "status version and uptime" "$out" '^gostream [0-9]+\.[0-9]+\.[0-9]+ at http://127\.0\.0\.1:[0-9]+, up 0h 0[0-9]m [0-9]{2}s'
expect_match "status counts" "$out" 'torrents: 2 known, 1 awake'
expect_match "status awake table" "$out" "$ha .* Alpha \(2001\)"
gs status --json --config "$T/c.json"
expect_eq "status --json torrents" "$(json_get "$out" torrents)" 2
expect_eq "status --json active" "$(printf '%s' "$out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["active"][0]["hash"])')" "$ha"

# rm by a unique prefix, then by the full hash with --json.
gs rm "${hb:0:8}" --config "$T/c.json"
expect_eq "rm prefix" "$rc" 0
expect_eq "rm message" "$out" "removed $hb"
gs rm "$hb" --config "$T/c.json"
expect_eq "rm again" "$rc" 1
expect_match "rm unknown" "$err" "unknown torrent hash \"$hb\" \(HTTP 404\)"
gs rm abcdef01 --config "$T/c.json"
expect_eq "rm prefix of nothing" "$rc" 1
expect_match "rm prefix of nothing says so" "$err" 'no torrent hash starts with "abcdef01"'
gs rm nothex --config "$T/c.json"
expect_eq "rm bad hash" "$rc" 1
expect_match "rm bad hash reason" "$err" 'hash must be 40 hex digits'

# Token problems: the daemon's 401 becomes an explanation.
GOSTREAM_TOKEN=wrong gs ls --config "$T/c.json"
expect_eq "wrong token" "$rc" 1
expect_match "wrong token message" "$err" 'wants an API token \(401\)'
echo "{ \"state_dir\": \"$T/state2\" }" > "$T/notoken.json"
gs ls --config "$T/notoken.json" --url "http://127.0.0.1:$GS_API_PORT"
expect_eq "no token" "$rc" 1
expect_match "no token message" "$err" 'set api_token in the config'
GOSTREAM_TOKEN=cli-secret-7 gs ls --config "$T/notoken.json" --url "http://127.0.0.1:$GS_API_PORT/"
expect_eq "token from the environment, --url" "$rc" 0

# Usage and config errors.
gs add --config "$T/c.json";                 expect_eq "add without LINK" "$rc" 2
expect_match "add without LINK says so" "$err" 'missing LINK'
gs add x --category music --config "$T/c.json"; expect_eq "bad category" "$rc" 2
expect_match "bad category says so" "$err" '--category must be movie or tv'
gs ls --title x;                             expect_eq "add option on ls" "$rc" 2
gs ls extra;                                 expect_eq "stray argument" "$rc" 2
gs rm;                                       expect_eq "rm without HASH" "$rc" 2
gs ls --bogus;                               expect_eq "unknown option" "$rc" 2
gs add --help;                               expect_eq "add --help" "$rc" 0
expect_match "add --help text" "$out" 'usage: gostream add LINK'
gs ls --config "$T/missing.json";            expect_eq "missing config" "$rc" 3
gs add "$T/nope.torrent" --config "$T/c.json"
expect_eq "add a missing file" "$rc" 1
expect_match "add a missing file reason" "$err" 'HTTP 400'
gs_stop TERM 5

# The daemon is gone: say where we looked.
gs status --config "$T/c.json"
expect_eq "daemon down" "$rc" 1
expect_match "daemon down message" "$err" "cannot reach the daemon at http://127.0.0.1:$GS_API_PORT/echo: .*is \`gostream run\` running"
note "$checks checks"
