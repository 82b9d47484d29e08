#!/usr/bin/env bash
# web_login.sh - the pages with api_token set, in a real browser (chromium +
# playwright-core): the login page shows instead of the data, a wrong token is refused,
# the right one opens both pages (kept in the tab's sessionStorage, never a cookie); the
# pages are served without credentials and hold no token; data routes answer 401
# without it; the Plex card says "reachable" (a local stand-in answering /identity only
# with the token). Without a browser: the 401 for the page's scripts carries no Basic
# challenge (no browser password dialog over the login form), for other clients it does.
. "$TOP_SRCDIR/tests/lib/common.sh"
[ -x /usr/bin/chromium ] || skip_missing "chromium missing (apt-get install chromium)"
command -v node >/dev/null || skip_missing "node missing (apt-get install nodejs)"
[ -d "$TOP_SRCDIR/tests/lib/node_modules/playwright-core" ] ||
	skip_missing "playwright-core missing (cd tests/lib && npm install: scripts/setup.sh test does it)"

TOKEN="tok-$RANDOM$RANDOM-web"
PLEX_TOKEN="plex-$RANDOM$RANDOM"
# A Plex stand-in: GET /identity answers 200 with the right X-Plex-Token, 401 without.
PLEX_PORT=$(gs_free_port)
"$PY" - "$PLEX_PORT" "$PLEX_TOKEN" > "$T/plex.log" 2>&1 <<'PYEOF' &
import http.server, sys
port, token = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        good = self.path == "/identity" and self.headers.get("X-Plex-Token") == token
        body = b'<?xml version="1.0" encoding="UTF-8"?>\n<MediaContainer size="0" claimed="1" machineIdentifier="test" version="1.40.2.8395-c67dce28e"> </MediaContainer>' if good else b""
        self.send_response(200 if good else 401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        print("identity", "good" if good else "refused", flush=True)
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
PYEOF
GS_PIDS+=("$!")
for ((i = 0; i < 100; i++)); do curl -s -o /dev/null "http://127.0.0.1:$PLEX_PORT/identity" && break; sleep 0.1; done
gs_config "$T/c.json" "\"api_token\": \"$TOKEN\"" \
	"\"plex\": {\"url\": \"http://127.0.0.1:$PLEX_PORT\", \"token\": \"$PLEX_TOKEN\"}"
gs_start run --config "$T/c.json"
gs_wait_ready
M="http://127.0.0.1:$GS_METRICS_PORT"

curl -s -D "$T/h1" -o /dev/null "$M/web/status"
expect_match "401 for other clients offers Basic" "$(cat "$T/h1")" 'WWW-Authenticate: Basic'
curl -s -D "$T/h2" -o /dev/null -H 'X-Gostream-Page: 1' "$M/web/status"
expect_match "401 for the page" "$(head -1 "$T/h2")" ' 401'
grep -q 'WWW-Authenticate: Basic' "$T/h2" && fail "the page's 401 offers Basic (browser dialog)"; ok
code=$(curl -s -o /dev/null -w '%{http_code}' -u "any:$TOKEN" "$M/web/status")
expect_eq "Basic with the token as password" "$code" 200
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -X POST "$M/web/restart")
expect_eq "a POST with the token but without X-Gostream-Page" "$code" 403

export GS_M="$M" TOKEN PLEX_TOKEN
timeout -k 5 120 node "$TOP_SRCDIR/tests/lib/web_browser.js" login > "$T/node.out" 2>&1
rc=$?
cat "$T/node.out" >&2
[ "$rc" = 0 ] || fail "browser scenario failed (status $rc)"
grep -q '^done$' "$T/node.out" || fail "browser scenario did not finish"
checks=$((checks + $(grep -c '^ok ' "$T/node.out")))
grep -q "$TOKEN" "$T/gs.log" && fail "the token is in the log"; ok
grep -q "identity good" "$T/plex.log" || fail "gostream never asked Plex with its token"; ok
gs_stop TERM 10
echo "web_login: $checks checks passed"
