#!/usr/bin/env bash
# discovery_tv.sh - the series sync (last two aired seasons; a full season pack first,
# else episode by episode; packs with too few seeders refused) and the Plex watchlist
# sync (IMDB from the Guid, else a TMDB search by title and year), against the fake
# services and a real loopback seeder; Plex gets one partial scan per changed season
# folder; a removed episode stays removed; a second sync adds nothing.
. "$TOP_SRCDIR/tests/lib/common.sh"
. "$TOP_SRCDIR/tests/lib/disc_testlib.sh"
disc_need

P="$T/data/Slow.Horses.S02.1080p.ATVP.WEB-DL"
mkfile "$P/Slow.Horses.S02E01.1080p.mkv" 1200
mkfile "$P/Slow.Horses.S02E02.1080p.mkv" 1200
mkfile "$P/Slow.Horses.S02.nfo" 1
mkfile "$T/data/Slow.Horses.S03E01.1080p.mkv" 1200
mkfile "$T/data/Slow.Horses.S03E02.1080p.mkv" 1200
mkfile "$T/data/Heat.1995.2160p.REMUX.DV.mkv" 1200
mkfile "$T/data/The.Matrix.1999.1080p.REMUX.mkv" 1200
export H_SH_S02=$(gs_make_torrent "$P" 256 "$T/s2.torrent")
export H_SH_S03E01=$(gs_make_torrent "$T/data/Slow.Horses.S03E01.1080p.mkv" 256 "$T/e1.torrent")
export H_SH_S03E02=$(gs_make_torrent "$T/data/Slow.Horses.S03E02.1080p.mkv" 256 "$T/e2.torrent")
export H_HEAT_4K=$(gs_make_torrent "$T/data/Heat.1995.2160p.REMUX.DV.mkv" 256 "$T/heat.torrent")
export H_MATRIX_1080=$(gs_make_torrent "$T/data/The.Matrix.1999.1080p.REMUX.mkv" 256 "$T/m1.torrent")
export H_HEAT_1080=1111111111111111111111111111111111111111
gs_seed 127.0.0.62 "$T/data" "$T/s2.torrent" "$T/e1.torrent" "$T/e2.torrent" "$T/heat.torrent" "$T/m1.torrent"

disc_fake_start
EMPTY='{"body": "{\"page\":1,\"results\":[],\"total_pages\":0,\"total_results\":0}"}'
disc_scenario '{"peers": ["'$SEED_EP'"], "routes": {
 "tmdb:/tv/on_the_air": {"file": "tmdb_on_the_air.json"},
 "tmdb:/tv/airing_today": '"$EMPTY"', "tmdb:/trending/tv/week": '"$EMPTY"', "tmdb:/discover/tv": '"$EMPTY"',
 "tmdb:/tv/95480/external_ids": {"file": "tmdb_external_ids_tv_95480.json"},
 "tmdb:/tv/95480": {"file": "tmdb_tv_95480.json"},
 "torrentio:/stream/series/tt5875444:2:1.json": {"file": "torrentio_sh_2_1.json"},
 "torrentio:/stream/series/tt5875444:3:1.json": {"file": "torrentio_sh_3_1.json"},
 "torrentio:/stream/series/tt5875444:3:2.json": {"file": "torrentio_sh_3_2.json"},
 "plexwatch:/library/sections/watchlist/all": {"file": "plex_watchlist.json"},
 "tmdb:/search/movie": {"file": "tmdb_search_matrix.json"},
 "tmdb:/movie/603/external_ids": {"file": "tmdb_external_ids_603.json"},
 "torrentio:/stream/movie/tt0113277.json": {"file": "torrentio_heat.json"},
 "torrentio:/stream/movie/tt0133093.json": {"file": "torrentio_matrix.json"}}}'
GS_ENGINE_EXTRA=', "MetadataTimeoutSeconds": 30' disc_config "$T/c.json" \
	'"discovery": { "movies_schedule": "off", "tv_schedule": "off", "watchlist_schedule": "off", "torrentio_interval_ms": 200 }'
gs_start run --config "$T/c.json"
gs_wait_ready

gsync() {
	out=$("$GOSTREAM" sync "$@" --config "$T/c.json" 2> "$T/sync.err"); rc=$?; err=$(cat "$T/sync.err")
	grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$T/sync.err" && fail "sanitizer: $err"
	return 0
}
decs() { jpy "$out" '[(d["kind"], d["season"], d["episode"], d["action"], d["hash"]) for d in j]'; }

gsync tv --json
expect_eq "tv sync exit" "$rc" 0
expect_eq "season 2 as a pack, season 3 by episode (season 1 too old, 4 not aired)" "$(decs)" \
	"[('season', 2, None, 'add', '$H_SH_S02'), ('episode', 3, 1, 'add', '$H_SH_S03E01'), ('episode', 3, 2, 'add', '$H_SH_S03E02')]"
expect_eq "decision fields (tv)" "$(jpy "$out" 'sorted(j[1].keys())')" \
	"['action', 'episode', 'file_index', 'hash', 'imdb', 'kind', 'quality', 'reason', 'score', 'season', 'seeders', 'size_bytes', 'title', 'tmdb', 'year']"
expect_eq "pack score (1080p 5.1, 30 seeders)" "$(jpy "$out" 'j[0]["score"], j[0]["quality"], j[0]["imdb"], j[0]["tmdb"]')" "(255, '1080p 5.1', 'tt5875444', 95480)"
expect_eq "no torrentio request for season 1" "$(fake_count 'tt5875444:1:')" 0
L=$(curl -s -H 'Accept: application/json' "http://127.0.0.1:$GS_STREAM_PORT/tv/Slow%20Horses%20(2022)/Season.02/")
expect_eq "the pack episodes in the library" "$(jpy "$L" "[e['name'][:18] for e in j['entries']]")" "['Slow_Horses_S02E01', 'Slow_Horses_S02E02']"
L=$(curl -s -H 'Accept: application/json' "http://127.0.0.1:$GS_STREAM_PORT/tv/Slow%20Horses%20(2022)/Season.03/")
expect_eq "season 3 episodes in the library" "$(jpy "$L" "[e['name'][:18] for e in j['entries']]")" "['Slow_Horses_S03E01', 'Slow_Horses_S03E02']"
scans=$("$PY" -c 'import json,sys; print(sorted((json.loads(l)["key"], json.loads(l)["query"]["path"]) for l in open(sys.argv[1]) if "refresh" in json.loads(l)["key"]))' "$FAKE_LOG")
expect_eq "one scan per changed season folder, in the tv section" "$scans" \
	"[('plex:/library/sections/2/refresh', '/mnt/plexlib/tv/Slow Horses (2022)/Season.02'), ('plex:/library/sections/2/refresh', '/mnt/plexlib/tv/Slow Horses (2022)/Season.03')]"

gsync tv --json
expect_eq "second tv sync: nothing added" "$(jpy "$out" '[d["action"] for d in j]')" "['skip', 'skip', 'skip']"
expect_eq "still three torrents" "$(jpy "$(list_api)" 'len(j)')" 3

# A removed episode stays removed; the others stay.
curl -s -X POST "http://127.0.0.1:$GS_API_PORT/torrents" -d "{\"action\":\"rem\",\"hash\":\"$H_SH_S03E01\"}" > /dev/null
B=$(sync_api '{"action":"blocklist"}')
expect_eq "episode blocklist entry" "$(jpy "$B" '[(e["kind"], e["imdb"], e["season"], e["episode"]) for e in j]')" "[('episode', 'tt5875444', 3, 1)]"
gsync tv --json
expect_eq "removed episode skipped" "$(jpy "$out" '[(d["episode"], d["action"], d["reason"]) for d in j if d["episode"] == 1]')" \
	"[(1, 'skip', 'removed by the user (blocklist)')]"
expect_eq "two torrents left" "$(jpy "$(list_api)" 'len(j)')" 2
gsync tv --verbose
expect_eq "verbose exit" "$rc" 0
expect_match "verbose: skip decisions too" "$out" 'skip +Slow Horses \(2022\) S03E01: removed by the user \(blocklist\)'
expect_match "verbose: the log on stderr" "$err" 'tv sync started \(api\)'

# Watchlist: Heat has its IMDB id in the Guid; The Matrix has none (TMDB search).
gsync watchlist --json
expect_eq "watchlist exit" "$rc" 0
expect_eq "watchlist films" "$(jpy "$out" '[(d["title"], d["imdb"], d["action"], d["hash"]) for d in j if d["kind"] == "movie"]')" \
	"[('Heat', 'tt0113277', 'add', '$H_HEAT_4K'), ('The Matrix', 'tt0133093', 'add', '$H_MATRIX_1080')]"
expect_eq "watchlist series: as the tv sync, all held or removed" "$(jpy "$out" '[(d["kind"], d["season"], d["episode"], d["action"]) for d in j if d["kind"] != "movie"]')" \
	"[('season', 2, None, 'skip'), ('episode', 3, 1, 'skip'), ('episode', 3, 2, 'skip')]"
expect_eq "no TMDB lookup for the Guid's film" "$(fake_count 'movie/949')" 0
search=$("$PY" -c 'import json,sys; print([json.loads(l)["query"] for l in open(sys.argv[1]) if json.loads(l)["key"] == "tmdb:/search/movie"])' "$FAKE_LOG")
expect_match "search by title and year" "$search" "'query': 'The Matrix', 'year': '1999'"
expect_eq "watchlist token sent" "$("$PY" -c 'import json,sys; print({json.loads(l)["token"] for l in open(sys.argv[1]) if json.loads(l)["service"] == "plexwatch"})' "$FAKE_LOG")" "{'plex-test-token'}"
expect_eq "films in the catalog" "$(jpy "$(list_api)" 'sorted(t["title"] for t in j if t["category"] == "movie")')" "['Heat (1995)', 'The Matrix (1999)']"
expect_eq "movies folder scanned once" "$(fake_count 'sections/1/refresh')" 1
gs_stop
echo "discovery_tv: $checks checks passed"
