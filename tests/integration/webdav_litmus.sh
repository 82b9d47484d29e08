#!/usr/bin/env bash
# webdav_litmus.sh - litmus (the WebDAV conformance suite) against the stream port, each
# group run on its own, results recorded per group in this test's log.
#
# Expected on a read-only server, and only these: every group (basic, copymove, props,
# locks, http) begins by creating its scratch collection with MKCOL, which we refuse
# (403), so each group reports "init pass, begin FAIL (Could not create new collection)"
# and runs nothing else. litmus has no read-only mode; the read-only behaviour it would
# have covered (OPTIONS, PROPFIND bodies and depths, properties, Range/If-Range/416,
# writes refused, LOCK/UNLOCK) is checked by webdav_props.sh and http_range.sh. Any other
# failure, or a group that does not even pass init, fails this test.
. "$TOP_SRCDIR/tests/lib/common.sh"
command -v litmus > /dev/null || skip_missing "litmus missing (apt-get install litmus)"
gs_need_swarm

mkdir -p "$T/data"
"$MKMEDIA" "$T/data/l.mkv" 4 || fail "mkmedia"
h=$(gs_make_torrent "$T/data/l.mkv" 256 "$T/l.torrent")
gs_config "$T/c.json"
gs_start run --config "$T/c.json"
gs_wait_ready
code=$(curl -s -o "$T/add.out" -w '%{http_code}' -X POST "http://127.0.0.1:$GS_API_PORT/torrents" \
	--data-binary "{\"action\":\"add\",\"link\":\"$T/l.torrent\",\"title\":\"Litmus (2000)\",\"category\":\"movie\"}")
[ "$code" = 200 ] || fail "add: $code $(cat "$T/add.out")"
URL="http://127.0.0.1:$GS_STREAM_PORT/movies/"

cd "$T" || fail "cd $T"
printf '%-9s %-8s %s\n' group test result > "$T/table"
for g in basic copymove props locks http; do
	TESTS=$g timeout -k 5 30 litmus "$URL" > "$T/$g.out" 2>&1
	rc=$?
	[ "$rc" -lt 124 ] || fail "litmus $g timed out"
	# "\r 1. begin.... \r 1. begin.... FAIL (reason)" -> "begin FAIL (reason)": litmus
	# prints each test's name, then a carriage return and the name again with the result.
	tr '\r' '\n' < "$T/$g.out" |
		sed -n 's/^ *[0-9]*\. \([a-z_0-9]*\)\.* \([^ ].*\)$/\1 \2/p' > "$T/$g.res"
	[ -s "$T/$g.res" ] || { cat "$T/$g.out" >&2; fail "no results from litmus $g"; }
	while read -r t res; do
		printf '%-9s %-8s %s\n' "$g" "$t" "$res" >> "$T/table"
		case "$t:$res" in
		init:pass) ;;
		begin:"FAIL (Could not create new collection"*) ;;   # MKCOL refused: read-only
		*:pass) ;;
		*) cat "$T/$g.out" >&2; fail "litmus $g: unexpected result: $t $res" ;;
		esac
	done < "$T/$g.res"
	grep -q '^init pass' "$T/$g.res" || fail "litmus $g: init did not pass"
	ok
done
cat "$T/table" >&2
cd / || true
gs_stop
note "$checks checks"
echo "PASS: webdav_litmus"
