#!/usr/bin/env bash
# web_panel.sh - the control panel and dashboard in a real browser (Debian chromium
# driven by playwright-core, tests/lib/web_browser.js) against the real daemon and a
# loopback swarm: both pages load without console errors; the form has one field per
# config key (Simple/Advanced); a live setting saved on the page shows in POST /settings;
# a bad value is refused with check-config's own message next to the field; restart-only
# values and a secret go to config.json (comments kept in config.json.bak) and apply after
# the page's restart button (same PID, exec); no page or response holds the secret; a
# magnet added on the page is in the library and the API, its library link streams the
# bytes over HTTP while the speed chart receives points and the stream table names its
# source; playability (bitrate from the Matroska head vs swarm rate) in /torrents get and
# on the page; an uploaded .torrent appears, search filters, both titles are removed from
# the page. Screenshots (desktop and phone) go to $GS_SHOTS when set (docs/screenshots).
. "$TOP_SRCDIR/tests/lib/common.sh"
gs_need_swarm
[ -x /usr/bin/chromium ] || skip_missing "chromium missing (apt-get install chromium)"
command -v node >/dev/null || skip_missing "node missing (apt-get install nodejs)"
[ -d "$TOP_SRCDIR/tests/lib/node_modules/playwright-core" ] ||
	skip_missing "playwright-core missing (cd tests/lib && npm install: scripts/setup.sh test does it)"

mkdir -p "$T/data" "$T/up"
"$MKMEDIA" "$T/data/Film.2160p.DV.HDR10+.Atmos.mkv" 24 || fail mkmedia
SRC="$T/data/Film.2160p.DV.HDR10+.Atmos.mkv"
h=$(gs_make_torrent "$SRC" 256 "$T/film.torrent")
head -c 3000000 /dev/urandom > "$T/up/Other.Upload.Title.bin"
hu=$(gs_make_torrent "$T/up/Other.Upload.Title.bin" 256 "$T/upload.torrent")

# The seeder uploads at 2 MiB/s (its local peer class: libtorrent exempts loopback peers
# from plain rate limits), so the stream lasts ~12 s and the chart sees it.
out="$T/seed.out"
"$PY" - "$SEEDER" --data "$T/data" --bind 127.0.0.61:0 --max-seconds 600 "$T/film.torrent" \
	> "$out" 2> "$out.err" <<'PYEOF' &
import runpy, sys
import libtorrent as lt
class throttled(lt.session):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        pc = self.get_peer_class(lt.session.local_peer_class_id)
        pc["upload_limit"] = 2048 * 1024
        self.set_peer_class(lt.session.local_peer_class_id, pc)
lt.session = throttled
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
PYEOF
GS_PIDS+=("$!")
for ((i = 0; i < 300; i++)); do grep -q '^READY ' "$out" && break; sleep 0.1; done
grep -q '^READY ' "$out" || { cat "$out.err" >&2; fail "seeder not ready"; }
SEED_EP=$(awk '/^READY /{print $2; exit}' "$out")

gs_config "$T/c.json"
# A comment, to find it again in the backup.
sed -i '1a\  // written by web_panel.sh' "$T/c.json"
gs_start run --config "$T/c.json"
gs_wait_ready
pid0=$GS_PID
M="http://127.0.0.1:$GS_METRICS_PORT"

# The message check-config prints for the bad value the page will send.
echo '{"read_ahead_budget_mb": 5}' > "$T/bad.json"
cli=$("$GOSTREAM" check-config --config "$T/bad.json" 2>&1 >/dev/null | sed -n "s|^gostream: $T/bad.json: ||p")
expect_match "check-config's message" "$cli" '^read_ahead_budget_mb: must be'

# The CSRF guard and the open pages, without a browser.
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$M/web/config" -d '{"set":{}}')
expect_eq "POST without X-Gostream-Page" "$code" 403
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$M/torrents" -d '{"action":"list"}')
expect_eq "mounted /torrents without X-Gostream-Page" "$code" 403

dur=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$SRC")
export GS_M="$M" GS_A="http://127.0.0.1:$GS_API_PORT" CLI_MSG="$cli" PLEX_TOKEN="plx-$RANDOM-secret" \
	HASH="$h" MAGNET="magnet:?xt=urn:btih:$h&dn=Film.2160p.DV.HDR10%2B.Atmos.mkv&x.pe=$SEED_EP" \
	TITLE="Panel Film (2024)" SHA256=$(sha256sum "$SRC" | cut -d' ' -f1) DURATION="$dur" \
	UPLOAD_TORRENT="$T/upload.torrent" UPLOAD_HASH="$hu" UPLOAD_TITLE_PART="Other.Upload"
timeout -k 5 240 node "$TOP_SRCDIR/tests/lib/web_browser.js" panel > "$T/node.out" 2>&1
rc=$?
cat "$T/node.out" >&2
[ "$rc" = 0 ] || fail "browser scenario failed (status $rc)"
grep -q '^done$' "$T/node.out" || fail "browser scenario did not finish"
checks=$((checks + $(grep -c '^ok ' "$T/node.out")))

# What the page wrote: the value in config.json, the comment in the backup, same process.
grep -q '"read_ahead_budget_mb":[[:space:]]*300' "$T/c.json" || fail "config.json lacks the saved value"; ok
grep -q 'written by web_panel.sh' "$T/c.json.bak" || fail "the backup lost the comment"; ok
expect_eq "restart kept the PID (exec)" "$(cat /proc/$pid0/comm 2>/dev/null)" gostream
grep -q "restarting: exec" "$T/gs.log" || fail "no restart in the log"; ok
grep -q "$PLEX_TOKEN" "$T/gs.log" && fail "the secret is in the log"; ok
grep -q "$PLEX_TOKEN" "$T/c.json" && fail "the cleared secret is still in config.json"; ok
gs_stop TERM 10
echo "web_panel: $checks checks passed"
