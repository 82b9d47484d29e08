#!/usr/bin/env bash
# webhook_plex.sh - POST /plex-webhook against the real daemon and a loopback swarm, with
# bodies built as Plex sends them (multipart: a JSON `payload` part with the Guid array and
# a localised title, plus a JPEG `thumb` part) and as Jellyfin's webhook plugin sends them.
# Asserts through /metrics: priority on + tail frozen + a pump started at the resume
# position on play, priority off + fast-drop (asleep in FastDropSeconds, not the 60 s
# disconnect timeout) on stop; matching by IMDB id, library path, both 8-hex hash suffix
# forms, title + year; two players on one file; token 401/403; garbage -> 400 and the
# daemon still answers.
. "$TOP_SRCDIR/tests/lib/common.sh"
gs_need_swarm
WHC="$TOP_SRCDIR/tests/lib/webhook_client.py"

mkdir -p "$T/data/Show.S01.1080p"
head -c $((48 << 20)) /dev/urandom > "$T/data/alpha.mkv"
head -c $((3 << 20)) /dev/urandom > "$T/data/beta.mkv"
head -c $((3 << 20)) /dev/urandom > "$T/data/gamma.mkv"
for e in 1 2 3; do head -c $((2 << 20)) /dev/urandom > "$T/data/Show.S01.1080p/Show.S01E0$e.mkv"; done
ha=$(gs_make_torrent "$T/data/alpha.mkv" 1024 "$T/a.torrent")
hb=$(gs_make_torrent "$T/data/beta.mkv" 256 "$T/b.torrent")
hg=$(gs_make_torrent "$T/data/gamma.mkv" 256 "$T/g.torrent")
hs=$(gs_make_torrent "$T/data/Show.S01.1080p" 256 "$T/s.torrent")
gs_seed 127.0.0.7 "$T/data" "$T/a.torrent" "$T/b.torrent" "$T/g.torrent" "$T/s.torrent"
ffmpeg -loglevel error -f lavfi -i testsrc=size=320x180 -frames:v 1 "$T/thumb.jpg" ||
	fail "ffmpeg thumb"
export WH_THUMB="$T/thumb.jpg"

# FastDropSeconds 2 against a 60 s disconnect timeout: a torrent asleep within ~10 s of a
# stop was fast-dropped.
GS_ENGINE_EXTRA=', "FastDropSeconds": 2, "TorrentDisconnectTimeout": 60'
gs_config "$T/c.json" '"webhook_token": "s3cr&t"' '"warmup_head_size_mb": 4' \
	'"warmup_tail_size_mb": 2'
gs_start run --config "$T/c.json"
gs_wait_ready
API="http://127.0.0.1:$GS_API_PORT/torrents"
MURL="http://127.0.0.1:$GS_METRICS_PORT"
WH="$MURL/plex-webhook?token=s3cr%26t"
SURL="http://127.0.0.1:$GS_STREAM_PORT"

add() {
	local r
	r=$(curl -s -X POST "$API" --data-binary "$1") || fail "add: curl"
	expect_match "add $2" "$r" "\"hash\":\"$2\""
}
add "{\"action\":\"add\",\"link\":\"$T/a.torrent\",\"title\":\"The Ugly Stepsister (2025)\",\"imdb\":\"tt29344903\",\"peers\":[\"$SEED_EP\"]}" "$ha"
add "{\"action\":\"add\",\"link\":\"$T/b.torrent\",\"title\":\"Beta (2002)\",\"peers\":[\"$SEED_EP\"]}" "$hb"
add "{\"action\":\"add\",\"link\":\"$T/g.torrent\",\"title\":\"Gamma (2003)\",\"peers\":[\"$SEED_EP\"]}" "$hg"
add "{\"action\":\"add\",\"link\":\"$T/s.torrent\",\"title\":\"Show (2020)\",\"category\":\"tv\",\"imdb\":\"tt7000001\",\"peers\":[\"$SEED_EP\"]}" "$hs"

# wh MODE ARGS... -> $code and $body of the webhook's answer
wh() { local out; out=$("$PY" "$WHC" "$1" "$WH" "${@:2}") || fail "webhook_client $*"; code=${out%% *}; body=${out#* }; }
jq_() { printf '%s' "$body" | "$PY" -c 'import json,sys; j=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

# ---- token ----
code=$(curl -s -o "$T/r" -w '%{http_code}' -X POST "$MURL/plex-webhook" \
	-H 'Content-Type: application/json' -d '{"event":"media.play"}')
expect_eq "no token" "$code" 401
code=$(curl -s -o "$T/r" -w '%{http_code}' -X POST "$MURL/plex-webhook?token=nope" \
	-H 'Content-Type: application/json' -d '{"event":"media.play"}')
expect_eq "wrong token" "$code" 403

# ---- Plex: play with a resume position, matched by IMDB id despite a Norwegian title ----
size=$((48 << 20))
wh plex media.play title="den stygge stesøsteren" imdb=tt29344903 year=2025 view=3600000 dur=7200000
expect_eq "play status" "$code" 200
expect_eq "play action" "$(jq_ 'j["action"]')" priority
expect_eq "play matched by" "$(jq_ 'j["matched_by"]')" imdb
expect_eq "play hash" "$(jq_ 'j["hash"]')" "$ha"
expect_eq "play prefetch" "$(jq_ 'j["prefetch"]')" started
# size * viewOffset / duration, 8 MiB earlier, on the 1 MiB chunk grid
want_off=$(( (size / 2 - (8 << 20)) / (1 << 20) * (1 << 20) ))
expect_eq "resume offset" "$(jq_ 'j["offset"]')" "$want_off"
metrics
expect_eq "priority listed" "$(mq "[p['hash'] for p in j['priority']]")" "['$ha']"
expect_eq "tail frozen" "$(mq "j['priority'][0]['tail_frozen']")" True
expect_eq "stream at the resume position" \
	"$(mq "[(s['offset'], s['prefetch'], s['priority']) for s in j['streams'] if s['hash']=='$ha']")" \
	"[($want_off, True, True)]"
expect_eq "session" "$(mq "len(j['webhook']['sessions'])")" 1
expect_eq "last event" "$(mq "(j['webhook']['last_events'][0]['event'], j['webhook']['last_events'][0]['title'])")" \
	"('media.play', 'den stygge stesøsteren')"
# The pump fetches from there before any player asks; the engine torrent is awake and in
# priority mode.
wait_for "j['pump_bytes'] >= 8 << 20 and j['torrents_awake'] == 1" 30
expect_eq "engine priority" "$(mq "[t['priority'] for t in j['torrents'] if t['hash']=='$ha']")" "[True]"
eng0=$(mq "j['engine_bytes']")
# The player arrives at the resume position: served from the caches the pump filled.
path="movies/The%20Ugly%20Stepsister%20%282025%29.mkv"
curl -sf -r "$want_off-$((want_off + (6 << 20) - 1))" "$SURL/$path" -o "$T/part" || fail "read at resume"
cmp -s "$T/part" <(tail -c +$((want_off + 1)) "$T/data/alpha.mkv" | head -c $((6 << 20))) ||
	fail "bytes at the resume position differ"
ok
metrics
grew=$(( $(mq "j['engine_bytes']") - eng0 ))
[ "$grew" -le $((1 << 20)) ] || fail "the reader fetched $grew bytes itself: the prefetch did not help"; ok

# pause and scrobble are recorded, nothing else
wh plex media.pause imdb=tt29344903
expect_eq "pause" "$(jq_ 'j["action"]')" recorded
wh plex media.scrobble imdb=tt29344903
expect_eq "scrobble" "$(jq_ 'j["action"]')" recorded
metrics
expect_eq "still priority after pause" "$(mq "len(j['priority'])")" 1

# ---- stop: priority off, fast-drop ----
sleeps0=$(mq "j['sleeps']")
t0=$(date +%s)
wh plex media.stop title="den stygge stesøsteren" imdb=tt29344903
expect_eq "stop status" "$code" 200
expect_eq "stop action" "$(jq_ 'j["action"]')" fast_drop
expect_eq "stop matched by session" "$(jq_ 'j["matched_by"]')" session
metrics
expect_eq "priority off" "$(mq "len(j['priority'])")" 0
expect_eq "no session" "$(mq "len(j['webhook']['sessions'])")" 0
wait_for "j['torrents_awake'] == 0 and j['sleeps'] > $sleeps0" 20
slept=$(( $(date +%s) - t0 ))
note "asleep ${slept}s after the stop (FastDropSeconds 2, disconnect timeout 60)"
[ "$slept" -le 15 ] || fail "torrent slept after ${slept}s: no fast-drop"; ok
expect_eq "fast drops counted" "$(mq "j['webhook']['fast_drops']")" 1

# ---- matching without an IMDB id ----
# our TV naming: <Show>_SxxEyy_<first 8 hex>.mkv, under a path Plex sees differently;
# the episode's Guid ids are the episode's, the show's only in grandparentGuid
wh plex media.play type=episode show=Show season=1 ep=2 title="Episode 2" imdb=tt7000999 \
	file="/volume1/Plex TV/Show/Sesong 1/Show_S01E02_${hs:0:8}.mkv" view=0 rk=777
expect_eq "tv suffix" "$(jq_ '(j["matched_by"], j["hash"])')" "('hash_suffix', '$hs')"
tv_idx=$(jq_ 'j["file_index"]')
metrics
expect_eq "tv episode file" "$(mq "[s['path'] for s in j['priority']]")" \
	"['tv/Show (2020)/Season.01/Show_S01E02_${hs:0:8}.mkv']"
wh plex media.stop type=episode show=Show season=1 ep=2 rk=777
expect_eq "tv stop" "$(jq_ '(j["action"], j["file_index"])')" "('fast_drop', $tv_idx)"
# the library path under Plex's own mount point
wh plex media.play type=episode show=Show season=1 ep=3 rk=778 \
	file="/mnt/gostream/tv/Show (2020)/Season.01/Show_S01E03_${hs:0:8}.mkv"
expect_eq "tv path" "$(jq_ 'j["matched_by"]')" path
wh plex media.stop rk=778
expect_eq "tv path stop" "$(jq_ 'j["action"]')" fast_drop
# the original's movie naming: <Title>_<Year>_<res>_<last 8 hex>.mkv
wh plex media.play title="Gamma lokalisert" year=2003 rk=900 \
	file="/mnt/films/Gamma_2003_1080p_${hg:32:8}.mkv"
expect_eq "original suffix" "$(jq_ '(j["matched_by"], j["hash"])')" "('hash_suffix', '$hg')"
wh plex media.stop rk=900
# title + year (no id, no file)
wh plex media.play title=Beta year=2002 rk=901
expect_eq "title+year" "$(jq_ '(j["matched_by"], j["hash"])')" "('title_year', '$hb')"
wh plex media.stop rk=901
wh plex media.play title=Beta year=1999 rk=902
expect_eq "wrong year" "$(jq_ '(j["action"], "hash" in j)')" "('no_match', False)"
expect_eq "no match is 200" "$code" 200
# raw application/json from Plex-like tools (the brief's curl test)
wh plex media.play json=1 title=Beta year=2002 rk=903
expect_eq "raw json play" "$(jq_ 'j["hash"]')" "$hb"
wh plex media.stop json=1 rk=903

# ---- two players on one file: the first stop keeps priority ----
wh plex media.play imdb=tt29344903 player=tv-stua rk=5
wh plex media.play imdb=tt29344903 player=phone rk=5
wh plex media.stop imdb=tt29344903 player=tv-stua rk=5
expect_eq "first of two stops" "$(jq_ 'j["action"]')" priority_kept
metrics
expect_eq "still prioritised" "$(mq "len(j['priority'])")" 1
wh plex media.stop imdb=tt29344903 player=phone rk=5
expect_eq "second stop" "$(jq_ 'j["action"]')" fast_drop

# ---- Jellyfin ----
wh jellyfin PlaybackStart imdb=tt29344903 posticks=0 year=""
expect_eq "jellyfin start (empty Year)" "$(jq_ '(j["source"], j["action"], j["matched_by"])')" \
	"('jellyfin', 'priority', 'imdb')"
wh jellyfin PlaybackProgress imdb=tt29344903 posticks=18000000000
expect_eq "jellyfin progress" "$(jq_ 'j["action"]')" progress
wh jellyfin PlaybackProgress imdb=tt29344903 posticks=18100000000 paused=true
expect_eq "jellyfin paused" "$(jq_ 'j["action"]')" recorded
metrics
expect_eq "jellyfin priority" "$(mq "[p['hash'] for p in j['priority']]")" "['$ha']"
wh jellyfin PlaybackStop imdb=tt29344903 posticks=18100000000
expect_eq "jellyfin stop" "$(jq_ 'j["action"]')" fast_drop
wh jellyfin PlaybackStart itemtype=Episode series=Show season=1 ep=1 item=ep1 name="Pilot"
expect_eq "jellyfin episode by title" "$(jq_ '(j["matched_by"], j["hash"])')" "('title_year', '$hs')"
wh jellyfin PlaybackStop itemtype=Episode series=Show season=1 ep=1 item=ep1
expect_eq "jellyfin episode stop" "$(jq_ 'j["action"]')" fast_drop

# ---- unknown events: 200, ignored ----
wh plex library.new title=X
expect_eq "library.new" "$code $(jq_ 'j["action"]')" "200 ignored"
wh jellyfin ItemAdded
expect_eq "ItemAdded" "$code $(jq_ 'j["action"]')" "200 ignored"

# ---- garbage: 400 with a reason ----
bad() {
	printf '%b' "$3" > "$T/bad"
	wh raw "$1" "$T/bad"
	expect_eq "status for $2" "$code" 400
	expect_match "reason for $2" "$body" "$4"
}
bad application/json "not json" 'not json' 'not valid JSON'
bad application/json "array" '[1,2]' 'must be a JSON object'
bad application/json "no event" '{"Metadata":{}}' 'no \\"event\\"'
bad application/json "event not a string" '{"event":5}' 'no \\"event\\"'
bad application/json "empty" '' 'empty body'
bad image/png "png" '\x89PNG\r\n' 'unsupported Content-Type'
bad "multipart/form-data; boundary=abc" "no payload part" \
	'--abc\r\nContent-Disposition: form-data; name="thumb"; filename="a.jpg"\r\n\r\n\xff\xd8\r\n--abc--\r\n' \
	'no \\"payload\\" part'
bad "multipart/form-data" "no boundary" '--abc\r\n' 'malformed form body'
bad "multipart/form-data; boundary=abc" "payload not json" \
	'--abc\r\nContent-Disposition: form-data; name="payload"\r\n\r\n{"event":\r\n--abc--\r\n' 'not valid JSON'
head -c $((11 << 20)) /dev/zero > "$T/big"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
	--data-binary @"$T/big" "$WH")
expect_eq "11 MiB body" "$code" 413
out=$("$PY" "$WHC" fuzz "$WH" 400 11) || fail "fuzz client died"
note "fuzz statuses: $out"
expect_eq "fuzz: only 200/400" "$("$PY" -c 'import json,sys; print(sorted(json.loads(sys.argv[1])) <= ["200","400"])' "$out")" True

# still alive and consistent
code=$(curl -s -o /dev/null -w '%{http_code}' "$MURL/health")
expect_eq "health after garbage" "$code" 200
metrics
expect_eq "nothing left in priority" "$(mq "len(j['priority'])")" 0
[ "$(mq "j['webhook']['rejected']")" -ge 9 ] || fail "rejections not counted"; ok
expect_eq "unauthorized counted" "$(mq "j['webhook']['unauthorized']")" 2
# Shutdown with a prefetch hold still open: a clean stop.
wh plex media.play imdb=tt29344903 rk=999 view=600000 dur=7200000
expect_eq "last play" "$(jq_ 'j["prefetch"]')" started
gs_stop TERM 10
note "$checks checks"
