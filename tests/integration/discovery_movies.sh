#!/usr/bin/env bash
# discovery_movies.sh - the film sync against fake TMDB/Torrentio/Plex services and a
# real loopback seeder reached only through the tracker Torrentio's "sources" name:
# the ladder picks the right torrent (CAM, 720p, few seeders, sizes refused), a dry run
# changes nothing, adds go through the catalog and library, two syncs in a row add
# nothing twice, an upgrade happens only above 1.1x, a removed title stays removed,
# Plex gets one partial scan per changed folder, Torrentio is paced ~1 req/s, and
# 429 / an HTML page / malformed JSON / a slow answer / a bad key give clear errors.
. "$TOP_SRCDIR/tests/lib/common.sh"
. "$TOP_SRCDIR/tests/lib/disc_testlib.sh"
disc_need

mkfile "$T/data/Heat.1995.2160p.REMUX.DV.mkv" 1600
mkfile "$T/data/The.Matrix.1999.1080p.REMUX.mkv" 1600
mkfile "$T/data/The.Matrix.1999.2160p.HDR.mkv" 1600
export H_HEAT_4K=$(gs_make_torrent "$T/data/Heat.1995.2160p.REMUX.DV.mkv" 256 "$T/heat.torrent")
export H_MATRIX_1080=$(gs_make_torrent "$T/data/The.Matrix.1999.1080p.REMUX.mkv" 256 "$T/m1.torrent")
export H_MATRIX_4K=$(gs_make_torrent "$T/data/The.Matrix.1999.2160p.HDR.mkv" 256 "$T/m4.torrent")
export H_HEAT_1080=1111111111111111111111111111111111111111
gs_seed 127.0.0.61 "$T/data" "$T/heat.torrent" "$T/m1.torrent" "$T/m4.torrent"

disc_fake_start
BASE='{"peers": ["'$SEED_EP'"], "routes": {
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
disc_scenario "$BASE"
GS_ENGINE_EXTRA=', "MetadataTimeoutSeconds": 30' disc_config "$T/c.json" \
	'"discovery": { "movies_schedule": "off", "tv_schedule": "off", "watchlist_schedule": "off", "retries": 2, "backoff_ms": 200, "timeout_seconds": 3 }'
gs_start run --config "$T/c.json"
gs_wait_ready

gsync() {
	out=$("$GOSTREAM" sync "$@" --config "$T/c.json" 2> "$T/sync.err"); rc=$?; err=$(cat "$T/sync.err")
	grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$T/sync.err" && fail "sanitizer: $err"
	return 0
}
# dec TITLE EXPR: EXPR on the decision d for TITLE in $out
dec() { printf '%s' "$out" | "$PY" -c '
import json, sys
ds = [d for d in json.load(sys.stdin) if d["title"] == sys.argv[1]]
assert len(ds) == 1, "%d decisions for %s" % (len(ds), sys.argv[1])
d = ds[0]; print(eval(sys.argv[2]))' "$1" "$2"; }

# 1. Dry run: the decisions, nothing changed.
gsync movies --dry-run --json
expect_eq "dry run exit" "$rc" 0
expect_eq "one decision per title (lists overlap)" "$(jpy "$out" 'len(j)')" 3
expect_eq "decision fields" "$(jpy "$out" 'sorted(j[0].keys())')" \
	"['action', 'file_index', 'hash', 'imdb', 'kind', 'quality', 'reason', 'score', 'seeders', 'size_bytes', 'title', 'tmdb', 'year']"
expect_eq "Heat: the 4K DV Atmos REMUX, by the ladder" "$(dec Heat 'd["action"], d["hash"], d["score"], d["seeders"], d["kind"], d["tmdb"], d["imdb"], d["year"], d["file_index"]')" \
	"('add', '$H_HEAT_4K', 1225, 45, 'movie', 949, 'tt0113277', 1995, 0)"
expect_eq "Heat quality label" "$(dec Heat 'd["quality"]')" "2160p DV HDR REMUX Atmos"
expect_eq "Heat size from the title" "$(dec Heat 'd["size_bytes"]')" "$("$PY" -c 'print(int(58.3*1024**3))')"
expect_eq "Matrix: 1080p REMUX 5.1 over the stereo WEB and the 720p" "$(dec 'The Matrix' 'd["action"], d["hash"], d["score"]')" "('add', '$H_MATRIX_1080', 285)"
expect_match "Dune: nothing passes (720p, TS)" "$(dec 'Dune: Part Two' 'd["action"], d["hash"], d["reason"]')" \
	"^\('skip', None, 'no stream passes the rules \(2 streams: 1 CAM/TS, 1 below 1080p"
q=$("$PY" -c 'import json,sys; print([json.loads(l)["query"] for l in open(sys.argv[1]) if json.loads(l)["key"] == "tmdb:/discover/movie"][0])' "$FAKE_LOG")
expect_eq "TMDB asked with the default language and region" "$q" "{'page': '1', 'language': 'en-US', 'region': 'US'}"
expect_eq "dry run adds nothing" "$(jpy "$(list_api)" 'len(j)')" 0
expect_eq "dry run asks Plex nothing" "$(fake_count refresh)" 0
expect_eq "dry run: the tracker was never asked" "$(fake_count announce)" 0

# Torrentio paced ~1 req/s (3 requests in the dry run).
gaps=$("$PY" -c '
import json, sys
ts = [json.loads(l)["t"] for l in open(sys.argv[1]) if json.loads(l)["service"] == "torrentio"]
print(min(b - a for a, b in zip(ts, ts[1:])))' "$FAKE_LOG")
expect_eq "Torrentio requests at least ~1 s apart (min gap $gaps s)" "$("$PY" -c "print($gaps >= 0.9)")" True

# 2. The real sync: two adds through the catalog and library, one Plex scan of movies/,
# followed live through GET /sync/events (server-sent events).
curl -sN --max-time 60 "http://127.0.0.1:$GS_API_PORT/sync/events" > "$T/events" 2>&1 &
EVPID=$!
GS_PIDS+=("$EVPID")
sleep 0.5
gsync movies
expect_eq "sync exit" "$rc" 0
for ((i = 0; i < 50; i++)); do grep -q '^event: done' "$T/events" && break; sleep 0.1; done
kill "$EVPID" 2>/dev/null; wait "$EVPID" 2>/dev/null
ev=$("$PY" -c '
import json, sys
evs = [b for b in open(sys.argv[1]).read().split("\n\n") if b.startswith("event:")]
out = []
for b in evs:
    name, data = b.split("\n", 1)
    j = json.loads(data[len("data: "):])
    out.append((name[7:], j.get("msg") or j.get("state")))
print(out[0], out[1], out[-1], sum(1 for e in out if e[0] == "progress") > 0)' "$T/events")
expect_eq "events: start, log lines, progress, done" "$ev" \
	"('start', 'running') ('log', 'movies sync started (api)') ('done', 'ok') True"
expect_match "summary" "$out" 'movies sync #[0-9]+ ok: looked at 3, added 2, upgraded 0, skipped 1, errors 0, Plex scans 1'
expect_match "add lines" "$out" "add +Heat \(1995\) +\[2160p DV HDR REMUX Atmos, score 1225, 45 seeders, $H_HEAT_4K\]"
L=$(list_api)
expect_eq "two torrents" "$(jpy "$L" 'sorted((t["title"], t["hash"], t["imdb"], t["category"]) for t in j)')" \
	"[('Heat (1995)', '$H_HEAT_4K', 'tt0113277', 'movie'), ('The Matrix (1999)', '$H_MATRIX_1080', 'tt0133093', 'movie')]"
ls=$(curl -s -H 'Accept: application/json' "http://127.0.0.1:$GS_STREAM_PORT/movies/")
expect_match "library lists the films" "$ls" 'Heat \(1995\)\.mkv'
expect_match "library lists the films" "$ls" 'The Matrix \(1999\)\.mkv'
expect_eq "the tracker from Torrentio's sources was used" "$([ "$(fake_count announce)" -ge 1 ] && echo yes)" yes
expect_eq "one partial scan" "$(fake_count refresh)" 1
scan=$("$PY" -c 'import json,sys; print([(json.loads(l)["key"], json.loads(l)["query"], json.loads(l)["token"]) for l in open(sys.argv[1]) if "refresh" in json.loads(l)["key"]])' "$FAKE_LOG")
expect_eq "scan of the movies folder in section 1" "$scan" \
	"[('plex:/library/sections/1/refresh', {'path': '/mnt/plexlib/movies'}, 'plex-test-token')]"
# The played bytes are the seeded ones.
curl -s "http://127.0.0.1:$GS_STREAM_PORT/movies/Heat%20(1995).mkv" -o "$T/heat.out" || fail "read Heat"
expect_eq "Heat's bytes" "$(sha256sum < "$T/heat.out")" "$(sha256sum < "$T/data/Heat.1995.2160p.REMUX.DV.mkv")"

# 3. Again: nothing added twice.
gsync movies --json
expect_eq "second sync exit" "$rc" 0
expect_eq "second sync: same torrent" "$(dec Heat 'd["action"], d["reason"]')" "('skip', 'already in the library (the same torrent)')"
expect_eq "second sync: matrix" "$(dec 'The Matrix' 'd["action"]')" skip
expect_eq "still two torrents" "$(jpy "$(list_api)" 'len(j)')" 2
expect_eq "no scan when nothing changed" "$(fake_count refresh)" 1

# 4. Upgrades only above the factor: Matrix 285 -> 1125 is replaced; Heat 1225 -> 1230 is not.
disc_scenario "$(printf '%s' "$BASE" | sed -e 's/torrentio_heat.json/torrentio_heat_better.json/' -e 's/torrentio_matrix.json/torrentio_matrix_4k.json/')"
gsync movies --json
expect_eq "upgrade sync exit" "$rc" 0
expect_eq "Matrix upgraded" "$(dec 'The Matrix' 'd["action"], d["hash"], d["score"]')" "('upgrade', '$H_MATRIX_4K', 1125)"
expect_match "Matrix reason" "$(dec 'The Matrix' 'd["reason"]')" "replaced $H_MATRIX_1080 \(score 285, 1125 > 1.1x\)"
expect_eq "Heat not upgraded" "$(dec Heat 'd["action"], d["reason"]')" "('skip', 'in the library with score 1225; 1230 is not above 1.1x that')"
L=$(list_api)
expect_eq "catalog after the upgrade" "$(jpy "$L" 'sorted((t["title"], t["hash"]) for t in j)')" \
	"[('Heat (1995)', '$H_HEAT_4K'), ('The Matrix (1999)', '$H_MATRIX_4K')]"
expect_eq "one more scan of movies/" "$(fake_count refresh)" 2

# 5. A user's rem blocks the title.
curl -s -X POST "http://127.0.0.1:$GS_API_PORT/torrents" -d "{\"action\":\"rem\",\"hash\":\"$H_HEAT_4K\"}" > /dev/null
B=$(sync_api '{"action":"blocklist"}')
expect_eq "blocklist entry" "$(jpy "$B" '[(e["kind"], e["imdb"], e["tmdb"], e["title"]) for e in j]')" "[('movie', 'tt0113277', 949, 'Heat (1995)')]"
disc_scenario "$BASE"
gsync movies --json
expect_eq "Heat stays removed" "$(dec Heat 'd["action"], d["reason"]')" "('skip', 'removed by the user (blocklist)')"
expect_eq "Heat not back" "$(jpy "$(list_api)" '[t["title"] for t in j]')" "['The Matrix (1999)']"

# 6. Errors: 429 twice then an answer (retried after Retry-After), an HTML page, a slow
# TMDB answer (timeout, then a retry), malformed JSON. Heat is unblocked first.
U=$(sync_api '{"action":"unblock","imdb":"tt0113277"}')
expect_eq "unblock" "$(jpy "$U" 'j["removed"]')" 1
disc_scenario "$(printf '%s' "$BASE" | "$PY" -c '
import json, sys
s = json.load(sys.stdin); r = s["routes"]
r["torrentio:/stream/movie/tt0113277.json"] = {"status": 429, "times": 2, "then": {"file": "torrentio_heat.json"}}
r["torrentio:/stream/movie/tt0133093.json"] = {"status": 502, "html": True}
r["tmdb:/movie/693134/external_ids"] = {"delay": 4, "times": 1, "then": {"file": "tmdb_external_ids_693134.json"}}
r["torrentio:/stream/movie/tt15239678.json"] = {"body": "{\"streams\": [ {\"infoHash\": "}
r["tmdb:/movie/now_playing"] = {"html": True}
print(json.dumps(s))')"
gsync movies --json
expect_eq "a sync with errors exits 1" "$rc" 1
expect_eq "Heat added again after two 429s" "$(dec Heat 'd["action"], d["hash"]')" "('add', '$H_HEAT_4K')"
expect_eq "Heat asked 3 times this run (4 before, none while blocked)" "$(fake_count "tt0113277")" 7
expect_match "HTML page named" "$(dec 'The Matrix' 'd["reason"]')" "^error: Torrentio: streams of tt0133093: HTTP 502 \(an HTML error page\) \(after 3 attempts\)$"
expect_match "malformed JSON named" "$(dec 'Dune: Part Two' 'd["reason"]')" "^error: Torrentio: streams of tt15239678: malformed JSON in the answer \(HTTP 200, [0-9]+ bytes\)$"
expect_match "the slow answer was retried" "$(cat "$T/gs.log")" 'TMDB: external_ids of film 693134: no answer within 3 s; retrying'
expect_match "an HTML page with 200 is an error of that list only" "$(cat "$T/gs.log")" 'TMDB: list /movie/now_playing page 1: answered an HTML page instead of JSON \(HTTP 200\)'
S=$(sync_api '{"action":"status"}')
expect_eq "status: last run" "$(jpy "$S" '(j["running"], j["current"], j["last"]["state"], j["last"]["progress"]["errors"], j["last"]["progress"]["added"], j["last"]["dry_run"])')" \
	"(False, None, 'ok', 3, 1, False)"
expect_match "status log" "$(jpy "$S" '[e["msg"] for e in j["last"]["log"]]')" 'movies sync ok: looked at 3, added 1'
expect_eq "status history" "$(jpy "$S" '[h["kind"] for h in j["history"]]')" "['movies', 'movies', 'movies', 'movies', 'movies', 'movies']"
M=$(curl -s "http://127.0.0.1:$GS_METRICS_PORT/metrics")
expect_eq "metrics" "$(jpy "$M" '(j["discovery"]["added"], j["discovery"]["upgraded"], j["discovery"]["runs"], j["discovery"]["retries"] >= 4)')" "(3, 1, 6, True)"

# 7. A refused key: the run fails naming the service and the key to fix.
disc_scenario "$(printf '%s' "$BASE" | sed 's/"peers"/"tmdb_key": "another-key", "peers"/')"
gsync movies
expect_eq "bad key exit" "$rc" 1
expect_match "bad key message" "$err" 'gostream sync: TMDB: list /discover/movie page 1: refused, HTTP 401: Invalid API key: You must be granted a valid key.; check tmdb_api_key'
expect_match "bad key summary" "$out" 'movies sync #[0-9]+ failed'

# 8. API errors.
sync_api '{"action":"start","kind":"music"}' > "$T/o"
expect_eq "bad kind" "$SYNC_STATUS" 400
expect_match "bad kind reason" "$(cat "$T/o")" 'kind must be \\"movies\\", \\"tv\\" or \\"watchlist\\"'
sync_api '{"action":"frobnicate"}' > /dev/null
expect_eq "bad action" "$SYNC_STATUS" 400
sync_api '{"action":"decisions","run":999}' > /dev/null
expect_eq "unknown run" "$SYNC_STATUS" 404
gsync films
expect_eq "cli usage" "$rc" 2
gs_stop
echo "discovery_movies: $checks checks passed"
