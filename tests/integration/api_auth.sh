#!/usr/bin/env bash
# api_auth.sh - access control against the real daemon: with api_token and http_auth
# set, every protected route of the api, metrics and stream ports answers 401 (with its
# challenges) without credentials and with wrong ones, and its normal status with the
# token (Bearer, or Basic with any user) or, on the stream port, an http_auth user;
# /health, /echo and the webhook stay open; a refused request is answered before its
# body is read; no GET shows a secret. A non-loopback listen_address without api_token
# is refused at start-up with the reason (checked in a private network namespace, so
# nothing is ever served off loopback), loopback ones are accepted.
. "$TOP_SRCDIR/tests/lib/common.sh"

TOK='tok-9f2c71e4'
mkdir -p "$T/data"
head -c 3000000 /dev/urandom > "$T/data/film.mkv"
"$PY" "$SEEDER" --make-torrent "$T/data/film.mkv" --piece-kib 256 --out "$T/film.torrent" > "$T/hash" 2>/dev/null ||
	skip "python3-libtorrent missing (needed to make a .torrent)"
h=$(cat "$T/hash")

gs_config "$T/c.json" "\"api_token\": \"$TOK\"" '"http_auth": ["alice:wonder land", "bob:pw:with:colons"]'
gs_start run --config "$T/c.json"
gs_wait_ready
A="http://127.0.0.1:$GS_API_PORT"
M="http://127.0.0.1:$GS_METRICS_PORT"
S="http://127.0.0.1:$GS_STREAM_PORT"
# call CREDS METHOD URL [curl args...]: sets $code; headers in $T/hdr, body in $T/body
call() {
	local creds=$1 method=$2 url=$3; shift 3
	local a=()
	case $creds in
	none) ;;
	bearer:*) a=(-H "Authorization: Bearer ${creds#bearer:}") ;;
	basic:*) a=(-u "${creds#basic:}") ;;
	raw:*) a=(-H "Authorization: ${creds#raw:}") ;;
	esac
	if [ "$method" = HEAD ]; then a+=(-I); else a+=(-X "$method"); fi
	code=$(curl -s -D "$T/hdr" -o "$T/body" -w '%{http_code}' --max-time 20 "${a[@]}" "$@" "$url")
}

call "bearer:$TOK" POST "$A/torrents" --data-binary "{\"action\":\"add\",\"link\":\"$T/film.torrent\",\"title\":\"Auth (2006)\"}"
expect_eq "add with the token" "$code" 200

# protected PORT-KIND METHOD URL WANT [curl args...]
protected() {
	local kind=$1 method=$2 url=$3 want=$4; shift 4
	call none "$method" "$url" "$@"
	expect_eq "$method $url without credentials" "$code" 401
	expect_match "$method $url Basic challenge" "$(cat "$T/hdr")" 'WWW-Authenticate: Basic realm="gostream"'
	call "bearer:wrong-$TOK" "$method" "$url" "$@"
	expect_eq "$method $url with a wrong Bearer token" "$code" 401
	call "basic:x:wrong" "$method" "$url" "$@"
	expect_eq "$method $url with a wrong Basic password" "$code" 401
	call "raw:Basic !!!notbase64" "$method" "$url" "$@"
	expect_eq "$method $url with a malformed Basic header" "$code" 401
	call "raw:Digest username=x" "$method" "$url" "$@"
	expect_eq "$method $url with another scheme" "$code" 401
	call "bearer:$TOK" "$method" "$url" "$@"
	expect_eq "$method $url with the Bearer token" "$code" "$want"
	call "basic:anyone:$TOK" "$method" "$url" "$@"
	expect_eq "$method $url with the token as Basic password" "$code" "$want"
	if [ "$kind" = api ]; then
		expect_match "$method $url Bearer challenge" "$(call none "$method" "$url" "$@"; cat "$T/hdr")" 'WWW-Authenticate: Bearer realm="gostream"'
		call "basic:alice:wonder land" "$method" "$url" "$@"
		expect_eq "$method $url with a streaming user" "$code" 401
	else
		call "basic:alice:wonder land" "$method" "$url" "$@"
		expect_eq "$method $url as alice" "$code" "$want"
		call "basic:bob:pw:with:colons" "$method" "$url" "$@"
		expect_eq "$method $url as bob (colons in the password)" "$code" "$want"
		call "basic:alice:wonder" "$method" "$url" "$@"
		expect_eq "$method $url as alice with a wrong password" "$code" 401
	fi
}
protected api POST "$A/torrents" 200 --data-binary '{"action":"list"}'
protected api POST "$A/settings" 200 --data-binary '{"action":"get"}'
protected api POST "$A/torrent/upload" 200 -F "file=@$T/film.torrent"
protected api GET "$A/stream?link=$h&stat" 200
protected api HEAD "$A/play/$h/1" 200
protected api GET "$M/metrics" 200
protected api GET "$M/metrics/prometheus" 200
protected stream GET "$S/" 200
protected stream HEAD "$S/stream/$h/0" 200
protected stream PROPFIND "$S/" 207 -H 'Depth: 1'
protected stream OPTIONS "$S/" 200

# Open routes.
call none GET "$M/health"; expect_eq "/health is open" "$code" 200
call none GET "$A/echo"; expect_eq "/echo is open" "$code" 200
call none POST "$M/plex-webhook" --data-binary '{}'
[ "$code" != 401 ] || fail "/plex-webhook answered 401 (it has its own webhook_token)"; ok
call none GET "$A/nosuch"; expect_eq "unknown path without credentials" "$code" 401
call "bearer:$TOK" GET "$A/nosuch"; expect_eq "unknown path with the token" "$code" 404

# Refused before the body: a 2 MB POST without credentials gets 401, not 413.
head -c 2000000 /dev/zero > "$T/big"
call none POST "$A/torrents" --data-binary @"$T/big"
expect_eq "big body without credentials" "$code" 401

# No GET shows a secret (the daemon's own answers, and check-config's).
for u in "$A/echo" "$M/health" "$M/metrics" "$M/metrics/prometheus"; do
	call "bearer:$TOK" GET "$u"
	grep -qE "$TOK|wonder|colons" "$T/body" && fail "$u shows a secret"; ok
done
for b in '{"action":"list"}' "{\"action\":\"get\",\"hash\":\"$h\"}"; do
	call "bearer:$TOK" POST "$A/torrents" --data-binary "$b"
	grep -qE "$TOK|wonder|colons" "$T/body" && fail "/torrents $b shows a secret"; ok
done
call "bearer:$TOK" POST "$A/settings" --data-binary '{"action":"get"}'
grep -qE "$TOK|wonder|colons|api_token|http_auth" "$T/body" && fail "/settings shows a secret"; ok
out=$("$GOSTREAM" check-config --config "$T/c.json" 2>/dev/null)
printf '%s' "$out" | grep -qE "$TOK|wonder|colons" && fail "check-config shows a secret"; ok
expect_match "check-config masks passwords, keeps names" "$out" '"alice:\*\*\*\*\*\*\*\*"'
grep -qE "$TOK|wonder|colons" "$T/gs.log" && fail "the log shows a secret"; ok
gs_stop TERM 5

# Start-up refusal off loopback without a token. The check runs before any port opens;
# the private network namespace makes sure nothing could be served off loopback anyway.
NS=()
unshare --net true 2> /dev/null && NS=(unshare --net)
cfg() { gs_config "$T/x.json" "\"listen_address\": \"$1\"" "\"api_token\": \"$2\""; }
for addr in 0.0.0.0 192.0.2.10 :: 2001:db8::1; do
	cfg "$addr" ""
	out=$(timeout 10 "${NS[@]}" "$GOSTREAM" run --config "$T/x.json" 2>&1); rc=$?
	expect_eq "run on $addr without api_token" "$rc" 3
	expect_match "refusal on $addr says why" "$out" "api_token: must be set when listen_address \($addr\) is not a loopback address"
	"$GOSTREAM" check-config --config "$T/x.json" > /dev/null 2>&1
	expect_eq "check-config on $addr without api_token" "$?" 3
done
for addr in 127.0.0.1 127.0.0.2 127.255.255.254 ::1 ::ffff:127.0.0.3; do
	cfg "$addr" ""
	"$GOSTREAM" check-config --config "$T/x.json" > /dev/null 2> "$T/err"
	expect_eq "loopback $addr needs no token" "$?" 0
done
cfg 0.0.0.0 "$TOK"
"$GOSTREAM" check-config --config "$T/x.json" > /dev/null 2> "$T/err"
expect_eq "0.0.0.0 with a token is valid" "$?" 0
# http_auth entries are checked, never echoed.
gs_config "$T/y.json" '"http_auth": ["nocolon-secret"]'
"$GOSTREAM" check-config --config "$T/y.json" > /dev/null 2> "$T/err"; rc=$?
expect_eq "http_auth without a colon" "$rc" 3
expect_match "http_auth reason" "$(cat "$T/err")" 'http_auth\[0\]: must be "name:password"'
grep -q nocolon-secret "$T/err" && fail "the http_auth error echoes the entry"; ok
gs_config "$T/y.json" '"http_auth": "alice:x"'
"$GOSTREAM" check-config --config "$T/y.json" > /dev/null 2> "$T/err"; rc=$?
expect_eq "http_auth not a list" "$rc" 3
expect_match "http_auth not a list reason" "$(cat "$T/err")" 'http_auth: must be an array of at most 64 strings'
grep -q alice:x "$T/err" && fail "the http_auth error echoes the value"; ok
note "$checks checks"
