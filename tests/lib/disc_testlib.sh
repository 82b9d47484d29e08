# disc_testlib.sh - helpers for the discovery_*.sh tests (sourced after common.sh): the
# fake TMDB/Torrentio/Plex/tracker server (fake_services.py), scenarios, /sync calls.
# Every wait is bounded; only PIDs started here are signalled (common.sh's cleanup).
FAKE="$TOP_SRCDIR/tests/lib/fake_services.py"
FIXTURES="$TOP_SRCDIR/tests/fixtures/discovery"

# disc_fake_start: starts the fake services; sets FAKE_PORT, FAKE_URL, FAKE_LOG, SCN.
disc_fake_start() {
	SCN="$T/scenario.json"; FAKE_LOG="$T/fake.log"
	: > "$FAKE_LOG"
	[ -f "$SCN" ] || echo '{}' > "$SCN"
	"$PY" "$FAKE" --scenario "$SCN" --fixtures "$FIXTURES" --log "$FAKE_LOG" \
		--port-file "$T/fake.port" --max-seconds 600 2> "$T/fake.err" &
	GS_PIDS+=("$!")
	local i
	for ((i = 0; i < 100; i++)); do [ -s "$T/fake.port" ] && break; sleep 0.1; done
	[ -s "$T/fake.port" ] || { cat "$T/fake.err" >&2; fail "fake services did not start"; }
	FAKE_PORT=$(cat "$T/fake.port")
	FAKE_URL="http://127.0.0.1:$FAKE_PORT"
}

# disc_config FILE [extra members...]: gs_config with every service pointing at the fakes
# ($DISC_PLEX_ROOT: plex.library_root, default /mnt/plexlib).
disc_config() {
	local f=$1; shift
	gs_config "$f" "\"tmdb_api_key\": \"${DISC_TMDB_KEY:-tmdb-test-key}\"" \
		"\"tmdb_base_url\": \"$FAKE_URL/tmdb/3\"" \
		"\"torrentio_base_url\": \"$FAKE_URL/torrentio\"" \
		"\"plex\": { \"url\": \"$FAKE_URL/plex\", \"token\": \"plex-test-token\", \"library_id\": 1, \"tv_library_id\": 2, \"discover_url\": \"$FAKE_URL/discover\", \"library_root\": \"${DISC_PLEX_ROOT-/mnt/plexlib}\" }" \
		"$@"
}

# disc_scenario JSON: writes the scenario; vars H_* come from the environment
# (every exported H_* variable), TRACKER is the fake's /announce.
disc_scenario() {
	"$PY" - "$SCN" "$1" "$FAKE_URL" <<'PYEOF'
import json, os, sys
out, expr, url = sys.argv[1:4]
v = {k: x for k, x in os.environ.items() if k.startswith("H_")}
v["TRACKER"] = url + "/announce"
scn = json.loads(expr)
scn.setdefault("vars", {}).update(v)
scn.setdefault("tmdb_key", "tmdb-test-key")
scn.setdefault("plex_token", "plex-test-token")
json.dump(scn, open(out + ".tmp", "w"), indent=1)
os.rename(out + ".tmp", out)
PYEOF
	sleep 0.05      # a new mtime for the fake's re-read
}

# sync_api JSON -> body on stdout, status in $SYNC_STATUS
sync_api() {
	local o
	o=$(curl -s -w '\n%{http_code}' -X POST "http://127.0.0.1:$GS_API_PORT/sync" -d "$1") ||
		fail "POST /sync $1"
	SYNC_STATUS=${o##*$'\n'}
	printf '%s' "${o%$'\n'*}"
}


# jpy JSON EXPR: evaluates EXPR on j (the parsed JSON)
jpy() { printf '%s' "$1" | "$PY" -c 'import json,sys; j=json.load(sys.stdin); print(eval(sys.argv[1]))' "$2"; }

# fake_count KEY-REGEX: requests the fake logged whose key matches
fake_count() { "$PY" -c 'import json,re,sys; print(sum(1 for l in open(sys.argv[1]) if re.search(sys.argv[2], json.loads(l)["key"])))' "$FAKE_LOG" "$1"; }

# mkfile PATH KIB: random bytes (a distinct torrent for each file)
mkfile() { mkdir -p "$(dirname "$1")"; head -c "$(($2 * 1024))" /dev/urandom > "$1"; }

# list_api: the catalog as JSON (POST /torrents list)
list_api() { curl -s -X POST "http://127.0.0.1:$GS_API_PORT/torrents" -d '{"action":"list"}'; }

disc_need() {
	"$PY" -c 'import libtorrent' 2>/dev/null || skip "python3-libtorrent missing for $PY"
}
