#!/usr/bin/env bash
# api_settings.sh - POST /settings against the real daemon: get (GoStorm names, config
# values, no secrets), set applied live while a read is in progress (the read completes
# byte-exact, the torrent stays active, the engine's activations counter does not move),
# names that are not settings reported, all-or-nothing validation with reasons naming the
# setting, persistence in <state_dir>/settings.json (0600, only the names set) across a
# restart and in check-config, def back to config.json's values (file removed), and a
# damaged settings.json refusing start-up with the file and key named.
. "$TOP_SRCDIR/tests/lib/common.sh"
gs_need_swarm

mkdir -p "$T/data"
"$MKMEDIA" "$T/data/film.mkv" 12 || fail mkmedia
SRC="$T/data/film.mkv"
h=$(gs_make_torrent "$SRC" 256 "$T/film.torrent")
gs_seed 127.0.0.41 "$T/data" "$T/film.torrent"

GS_ENGINE_EXTRA=', "ConnectionsLimit": 30' gs_config "$T/c.json"
gs_start run --config "$T/c.json"
gs_wait_ready
A="http://127.0.0.1:$GS_API_PORT"
S="http://127.0.0.1:$GS_STREAM_PORT"
req() { rm -f "$T/body"; code=$(curl -s -D "$T/hdr" -o "$T/body" -w '%{http_code}' --max-time 30 "$@"); touch "$T/body"; body=$(cat "$T/body"); }
sets() { req -X POST "$A/settings" --data-binary "$1"; }
val() { json_get "$body" "$1"; }
metric() { curl -sf "http://127.0.0.1:$GS_METRICS_PORT/metrics" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

sets '{"action":"get"}'
expect_eq "get" "$code" 200
expect_eq "get CacheSize (default)" "$(val CacheSize)" 67108864
expect_eq "get ConnectionsLimit (config.json)" "$(val ConnectionsLimit)" 30
expect_eq "get DisableDHT (config.json)" "$(val DisableDHT)" True
n=$(printf '%s' "$body" | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')
expect_eq "get has every engine setting" "$n" 25
printf '%s' "$body" | grep -qiE 'token|password|http_auth|plex' && fail "get shows a non-engine or secret key"; ok

req -X POST "$A/torrents" --data-binary "{\"action\":\"add\",\"link\":\"$T/film.torrent\",\"title\":\"Live (2005)\",\"peers\":[\"$SEED_EP\"]}"
expect_eq "add" "$code" 200

# A read in progress: ~6 s at 2 MB/s.
curl -s --limit-rate 2M -o "$T/read" "$S/stream/$h/0" & reader=$!
for ((i = 0; i < 200; i++)); do
	req -X POST "$A/torrents" --data-binary '{"action":"active"}'
	printf '%s' "$body" | grep -q "\"hash\":\"$h\"" && break
	sleep 0.05
done
printf '%s' "$body" | grep -q "\"hash\":\"$h\"" || fail "the torrent did not wake for the read"
act0=$(metric activations)
sets '{"action":"set","sets":{"ConnectionsLimit":40,"TorrentDisconnectTimeout":30,"CacheSize":134217728,"UseDisk":false,"RetrackersMode":1}}'
expect_eq "set while reading" "$code" 200
expect_eq "set answers the new ConnectionsLimit" "$(val ConnectionsLimit)" 40
expect_eq "set answers the new CacheSize" "$(val CacheSize)" 134217728
expect_match "set reports names that are not settings" "$(cat "$T/hdr")" 'X-Gostream-Ignored: RetrackersMode'
expect_match "set says UseDisk waits for a restart" "$(cat "$T/hdr")" 'X-Gostream-At-Next-Start: UseDisk'
req -X POST "$A/torrents" --data-binary '{"action":"active"}'
expect_match "the torrent is still active after set" "$body" "\"hash\":\"$h\""
sets '{"action":"set","sets":{"DownloadRateLimit":0,"ReaderReadAHead":90}}'
expect_eq "second set while reading" "$code" 200
kill -0 "$reader" 2>/dev/null || note "the read finished before the second set (fast machine)"
wait "$reader" || fail "the read in progress failed across the settings change"
cmp -s "$T/read" "$SRC" || fail "the read in progress returned other bytes"; ok
expect_eq "no re-activation by set" "$(metric activations)" "$act0"
grep -q "$h: asleep" "$T/gs.log" && fail "the torrent was put to sleep by set"; ok

# Errors: status and a reason naming what is wrong; nothing changes.
bad() { sets "$1"; expect_eq "status for $1" "$code" "$2"; expect_match "reason for $1" "$body" "$3"; }
bad 'nope' 400 'body must be a JSON object'
bad '{"sets":{}}' 400 'missing field \\"action\\"'
bad '{"action":"fly"}' 400 'unknown action \\"fly\\" \(get, set, def\)'
bad '{"action":"set"}' 400 'set: missing field \\"sets\\"'
bad '{"action":"set","sets":[1]}' 400 'set: missing field \\"sets\\"'
bad '{"action":"set","sets":{"ConnectionsLimit":50,"CacheSize":"big"}}' 400 'CacheSize: must be an integer between 16777216 and'
bad '{"action":"set","sets":{"ResponsiveMode":"yes"}}' 400 'ResponsiveMode: must be true or false'
bad '{"action":"set","sets":{"ReaderReadAHead":101}}' 400 'ReaderReadAHead: must be an integer between 5 and 100 \(got 101\)'
bad '{"action":"set","sets":{"PeersListenPort":1.5}}' 400 'PeersListenPort: must be an integer'
sets '{"action":"get"}'
expect_eq "a refused set changes nothing" "$(val ConnectionsLimit)" 40
sets '{"action":"set","sets":{"NotASetting":1}}'
expect_eq "only unknown names" "$code" 200
expect_match "only unknown names reported" "$(cat "$T/hdr")" 'X-Gostream-Ignored: NotASetting'
head -c 1100000 /dev/zero | tr '\0' ' ' > "$T/big"
req -X POST "$A/settings" --data-binary @"$T/big"
expect_eq "oversized body" "$code" 413
req "$A/settings"
expect_eq "GET /settings" "$code" 405

# The file: only the names set, owner-only.
F="$T/state/settings.json"
[ -f "$F" ] || fail "no $F"
expect_eq "settings.json mode" "$(stat -c %a "$F")" 600
keys=$("$PY" -c 'import json,sys; print(" ".join(sorted(json.load(open(sys.argv[1])))))' "$F")
expect_eq "settings.json holds the names set" "$keys" "CacheSize ConnectionsLimit DownloadRateLimit ReaderReadAHead TorrentDisconnectTimeout UseDisk"

# Across a restart, and in check-config.
gs_stop TERM 5
out=$("$GOSTREAM" check-config --config "$T/c.json" 2>"$T/cc.err") || fail "check-config: $(cat "$T/cc.err")"
expect_eq "check-config shows the set value" "$(printf '%s' "$out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["engine"]["ConnectionsLimit"])')" 40
expect_match "check-config names the settings file" "$(cat "$T/cc.err")" 'settings.json'
gs_start run --config "$T/c.json"
gs_wait_ready
expect_match "start-up names the settings file" "$(cat "$T/gs.log")" "settings: 6 engine values from $F"
sets '{"action":"get"}'
expect_eq "ConnectionsLimit after restart" "$(val ConnectionsLimit)" 40
expect_eq "UseDisk after restart" "$(val UseDisk)" False
expect_eq "ReaderReadAHead after restart" "$(val ReaderReadAHead)" 90
expect_eq "DisableDHT still from config.json" "$(val DisableDHT)" True
# def: back to config.json's values, the file removed.
sets '{"action":"def"}'
expect_eq "def" "$code" 200
expect_eq "def ConnectionsLimit = config.json's" "$(val ConnectionsLimit)" 30
expect_eq "def CacheSize = built-in" "$(val CacheSize)" 67108864
expect_eq "def keeps DHT off as config.json says" "$(val DisableDHT)" True
expect_match "def names UseDisk for the next start" "$(cat "$T/hdr")" 'X-Gostream-At-Next-Start: UseDisk'
[ -e "$F" ] && fail "settings.json left after def"; ok
gs_stop TERM 5
gs_start run --config "$T/c.json"
gs_wait_ready
sets '{"action":"get"}'
expect_eq "after def and a restart" "$(val ConnectionsLimit)" 30
gs_stop TERM 5

# A damaged file stops start-up naming the file and the key; unknown names only warn.
echo '{"CacheSize": "big"}' > "$F"
"$GOSTREAM" run --config "$T/c.json" > "$T/bad.log" 2>&1; rc=$?
expect_eq "start with a bad settings.json" "$rc" 1
expect_match "bad settings.json reason" "$(cat "$T/bad.log")" "$F: CacheSize: must be an integer"
echo 'not json' > "$F"
"$GOSTREAM" check-config --config "$T/c.json" > /dev/null 2> "$T/bad.log"; rc=$?
expect_eq "check-config with a malformed settings.json" "$rc" 3
expect_match "malformed settings.json reason" "$(cat "$T/bad.log")" "$F: not a JSON object"
echo '{"Bogus": 1, "ConnectionsLimit": 33}' > "$F"
gs_start run --config "$T/c.json"
gs_wait_ready
expect_match "unknown name in settings.json warned" "$(cat "$T/gs.log")" 'unknown setting "Bogus"'
sets '{"action":"get"}'
expect_eq "valid names of the file still apply" "$(val ConnectionsLimit)" 33
gs_stop TERM 5
note "$checks checks"
