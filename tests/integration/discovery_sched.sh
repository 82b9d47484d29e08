#!/usr/bin/env bash
# discovery_sched.sh - an add whose metadata does not come in time is kept as pending,
# retried at each sync and added exactly once when the swarm appears; the scheduler runs
# due syncs one at a time (never two at once, an API start meanwhile gets 409), and a
# run missed while gostream was down is done once after start-up, not again after the
# next restart.
. "$TOP_SRCDIR/tests/lib/common.sh"
. "$TOP_SRCDIR/tests/lib/disc_testlib.sh"
disc_need
export TZ=UTC

mkfile "$T/data/Heat.1995.2160p.REMUX.DV.mkv" 1200
export H_HEAT_4K=$(gs_make_torrent "$T/data/Heat.1995.2160p.REMUX.DV.mkv" 256 "$T/heat.torrent")
export H_HEAT_1080=1111111111111111111111111111111111111111
mkfile "$T/data2/The.Matrix.1999.1080p.REMUX.mkv" 1200
export H_MATRIX_1080=$(gs_make_torrent "$T/data2/The.Matrix.1999.1080p.REMUX.mkv" 256 "$T/m1.torrent")
disc_fake_start
routes() {       # routes DELAY PEERS
	disc_scenario '{"peers": '"$2"', "routes": {
 "tmdb:/discover/movie": {"file": "tmdb_discover_movie.json"},
 "tmdb:/movie/949/external_ids": {"file": "tmdb_external_ids_949.json"},
 "tmdb:/movie/693134/external_ids": {"file": "tmdb_external_ids_693134.json"},
 "tmdb:/search/movie": {"file": "tmdb_search_matrix.json"},
 "tmdb:/movie/603/external_ids": {"file": "tmdb_external_ids_603.json"},
 "plexwatch:/library/sections/watchlist/all": {"file": "plex_watchlist.json"},
 "torrentio:/stream/movie/tt0113277.json": {"file": "torrentio_heat.json", "delay": '"$1"'},
 "torrentio:/stream/movie/tt0133093.json": {"file": "torrentio_matrix.json", "delay": '"$1"'},
 "torrentio:/stream/movie/tt15239678.json": {"file": "torrentio_dune.json", "delay": '"$1"'}}}'
}
routes 0 '[]'
# No plex.library_root (nor FUSE mount): a changed section is scanned whole.
DISC_PLEX_ROOT= GS_ENGINE_EXTRA=', "MetadataTimeoutSeconds": 3' disc_config "$T/c.json" \
	'"discovery": { "movies_schedule": "off", "tv_schedule": "off", "watchlist_schedule": "off", "torrentio_interval_ms": 100 }'
gs_start run --config "$T/c.json"
gs_wait_ready
gsync() {
	out=$("$GOSTREAM" sync "$@" --config "$T/c.json" 2> "$T/sync.err"); rc=$?; err=$(cat "$T/sync.err")
	grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$T/sync.err" && fail "sanitizer: $err"
	return 0
}
heat() { jpy "$out" '[(d["action"], d["reason"]) for d in j if d["title"] == "Heat"][0]'; }

# 1. No seeder yet: the add times out and is kept as pending.
gsync movies --json
expect_eq "pending add decision" "$(heat)" "('add', 'metadata did not arrive in time: kept as pending, retried at the next sync')"
S=$(sync_api '{"action":"status"}')
expect_eq "one pending add" "$(jpy "$S" '(j["pending"], j["pending_adds"][0]["hash"], j["pending_adds"][0]["title"])')" "(1, '$H_HEAT_4K', 'Heat (1995)')"
expect_eq "pending.json on disk" "$(jpy "$(cat "$T/state/discovery/pending.json")" 'len(j)')" 1
expect_eq "nothing in the catalog" "$(jpy "$(list_api)" 'len(j)')" 0
# 2. Still none: retried, kept, and the title is not tried with another torrent.
gsync movies --json
expect_eq "still pending" "$(heat)" "('skip', 'pending: waiting for the metadata of $H_HEAT_4K')"
expect_match "retried" "$(cat "$T/gs.log")" "pending Heat \(1995\) \($H_HEAT_4K\): .*; kept"
expect_eq "attempts counted" "$(jpy "$(cat "$T/state/discovery/pending.json")" 'j[0]["attempts"]')" 2
# 3. The seeder appears: the pending add completes, once.
gs_seed 127.0.0.63 "$T/data" "$T/heat.torrent"
routes 0 '["'$SEED_EP'"]'
gsync movies --json
expect_match "pending completed" "$(cat "$T/gs.log")" "pending Heat \(1995\) \($H_HEAT_4K\): added"
expect_eq "Heat now held" "$(heat)" "('skip', 'already in the library (the same torrent)')"
expect_eq "added once" "$(jpy "$(list_api)" '[t["hash"] for t in j]')" "['$H_HEAT_4K']"
scan=$("$PY" -c 'import json,sys; print([(json.loads(l)["key"], json.loads(l)["query"]) for l in open(sys.argv[1]) if "refresh" in json.loads(l)["key"]])' "$FAKE_LOG")
expect_eq "without a library root: one full scan of the section" "$scan" "[('plex:/library/sections/1/refresh', {})]"
expect_eq "no pending left" "$(jpy "$(sync_api '{"action":"status"}')" 'j["pending"]')" 0
gsync movies --json
expect_eq "still once" "$(jpy "$(list_api)" 'len(j)')" 1
gs_stop

# 4. The scheduler: movies and watchlist every 2 s, each run slow (Torrentio answers
# after 0.7 s): runs follow each other, never overlap; an API start meanwhile gets 409.
ep1=$SEED_EP
gs_seed 127.0.0.64 "$T/data2" "$T/m1.torrent"
routes 0.7 '["'$ep1'", "'$SEED_EP'"]'
disc_config "$T/c2.json" \
	'"discovery": { "movies_schedule": "every 2s", "tv_schedule": "off", "watchlist_schedule": "every 2s", "torrentio_interval_ms": 100 }'
gs_start run --config "$T/c2.json"
gs_wait_ready
saw409=no
for ((i = 0; i < 100; i++)); do
	sync_api '{"action":"start","kind":"tv"}' > "$T/o"
	if [ "$SYNC_STATUS" = 409 ]; then saw409=yes; break; fi
	[ "$SYNC_STATUS" = 202 ] && fail "a start went through while the scheduler should be busy"
	sleep 0.1
done
expect_eq "a start while a scheduled sync runs: 409" "$saw409" yes
expect_match "409 says which" "$(cat "$T/o")" 'sync #[0-9]+ is running or queued; one runs at a time'
for ((i = 0; i < 300; i++)); do      # 4 finished runs take ~7 s; at most 30 s
	S=$(sync_api '{"action":"status"}')
	runs=$(jpy "$S" 'len(j["history"])')
	[ "$runs" -ge 4 ] && break
	sleep 0.1
done
expect_eq "4 finished scheduled runs within 30 s ($runs)" "$([ "$runs" -ge 4 ] && echo yes)" yes
# Both were due at start-up (the last starts in schedule.json are older than 2 s): each
# runs once as "missed", then on schedule, taking turns.
expect_eq "both kinds ran, missed then on schedule" "$(jpy "$S" 'sorted({(h["kind"], h["trigger"]) for h in j["history"]})')" \
	"[('movies', 'missed'), ('movies', 'schedule'), ('watchlist', 'missed'), ('watchlist', 'schedule')]"
expect_eq "never two at once" "$(jpy "$S" 'all(a["started"] >= b["finished"] for a, b in zip(j["history"], j["history"][1:])) and (not j["current"] or j["current"]["started"] >= j["history"][0]["finished"])')" True
expect_eq "status schedule" "$(jpy "$S" '(j["schedule"]["movies"]["enabled"], j["schedule"]["tv"]["enabled"], j["schedule"]["movies"]["schedule"])')" "(True, False, 'every 2s')"
tor=$("$PY" -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
print(len([e for e in ev if e["service"] == "torrentio"]))' "$FAKE_LOG")
note "torrentio requests so far: $tor"
# Stopping during a sync interrupts it (the run ends as "stopped"), within the bound.
gs_stop TERM 5

# 5. A missed run: movies "daily HH:MM" five minutes ago, last scheduled start two days
# ago -> one run at start-up ("missed"), none after the next restart.
hhmm=$(date -u -d '5 minutes ago' +%H:%M)
echo "{\"movies\": $(( $(date +%s) - 2 * 86400 )), \"tv\": 0, \"watchlist\": 0}" > "$T/state/discovery/schedule.json"
routes 0 '["'$ep1'", "'$SEED_EP'"]'
disc_config "$T/c3.json" \
	"\"discovery\": { \"movies_schedule\": \"daily $hhmm\", \"tv_schedule\": \"off\", \"watchlist_schedule\": \"off\", \"torrentio_interval_ms\": 100 }"
gs_start run --config "$T/c3.json"
gs_wait_ready
for ((i = 0; i < 100; i++)); do
	[ "$(jpy "$(sync_api '{"action":"status"}')" 'len(j["history"])')" -ge 1 ] && break
	sleep 0.1
done
sleep 3
S=$(sync_api '{"action":"status"}')
expect_eq "the missed run, once" "$(jpy "$S" '[(h["kind"], h["trigger"]) for h in j["history"]]')" "[('movies', 'missed')]"
expect_eq "next is tomorrow" "$(jpy "$S" 'j["schedule"]["movies"]["next"] - j["schedule"]["movies"]["last_scheduled"] > 23 * 3600')" True
gs_stop TERM 5
gs_start run --config "$T/c3.json"
gs_wait_ready
sleep 3
S=$(sync_api '{"action":"status"}')
expect_eq "not again after a restart" "$(jpy "$S" '(len(j["history"]), j["runs_since_start"])')" "(0, 0)"
gs_stop
echo "discovery_sched: $checks checks passed"
