#!/usr/bin/env bash
# webdav_props.sh - read-only WebDAV conformance on the stream port (what litmus cannot
# reach on a read-only server, see webdav_litmus.sh), with curl and Python's XML parser:
# OPTIONS; PROPFIND Depth 0 and 1 with empty, allprop, propname and prop bodies; every
# property's value against GET/HEAD; unknown properties in a 404 propstat; Depth
# infinity -> 403 propfind-finite-depth; bad Depth, malformed XML, a DOCTYPE and an
# oversized body refused; write methods 403 with a read-only body, others 405; LOCK
# (new and refresh) and UNLOCK; and no torrent woken by any of it.
. "$TOP_SRCDIR/tests/lib/common.sh"
gs_need_swarm

mkdir -p "$T/data"
"$MKMEDIA" "$T/data/a.mkv" 8 || fail "mkmedia"
SRC="$T/data/a.mkv"
SIZE=$(stat -c %s "$SRC")
h=$(gs_make_torrent "$SRC" 256 "$T/a.torrent")
gs_seed 127.0.0.14 "$T/data" "$T/a.torrent"

gs_config "$T/c.json"
gs_start run --config "$T/c.json"
gs_wait_ready
B="http://127.0.0.1:$GS_STREAM_PORT"
code=$(curl -s -o "$T/add.out" -w '%{http_code}' -X POST "http://127.0.0.1:$GS_API_PORT/torrents" \
	--data-binary "{\"action\":\"add\",\"link\":\"$T/a.torrent\",\"title\":\"Caf\u00e9 & <Friends> 100% (2003)\",\"category\":\"movie\",\"peers\":[\"$SEED_EP\"]}")
[ "$code" = 200 ] || fail "add: $code $(cat "$T/add.out")"

# dav METHOD PATH [curl args...]: sets $code, body in $T/body, headers in $T/hdr
dav() {
	local m=$1 p=$2
	shift 2
	rm -f "$T/body"
	code=$(curl -s -X "$m" -D "$T/hdr" -o "$T/body" -w '%{http_code}' "$@" "$B$p")
	touch "$T/body"
}
hdr() { tr -d '\r' < "$T/hdr" | awk -v k="$(echo "$1" | tr 'A-Z' 'a-z')" -F': ' 'tolower($1)==k{print $2}' | tail -n1; }
# xq EXPR: evaluates a Python expression over the multistatus in $T/body, where
# r[href] = {"ok": {prop: text}, "missing": [prop...]} with "D:" for DAV: names.
xq() {
	"$PY" - "$T/body" "$1" <<'EOF'
import sys, xml.etree.ElementTree as ET
D = "{DAV:}"
def name(tag):
    return "D:" + tag[len(D):] if tag.startswith(D) else tag
root = ET.parse(sys.argv[1]).getroot()
r = {}
for resp in root.findall(D + "response"):
    href = resp.find(D + "href").text
    e = r.setdefault(href, {"ok": {}, "missing": [], "xml": resp})
    for ps in resp.findall(D + "propstat"):
        status = ps.find(D + "status").text
        for p in ps.find(D + "prop"):
            if status.endswith(" 200 OK"):
                e["ok"][name(p.tag)] = ("".join(p.itertext()), [name(c.tag) for c in p])
            else:
                assert status.endswith(" 404 Not Found"), status
                e["missing"].append(name(p.tag))
print(eval(sys.argv[2]))
EOF
}

# OPTIONS: class 1 and 2, the methods we answer.
dav OPTIONS /
expect_eq "OPTIONS" "$code" 200
expect_eq "DAV header" "$(hdr DAV)" "1, 2"
expect_match "Allow" "$(hdr Allow)" '^OPTIONS, GET, HEAD, PROPFIND, LOCK, UNLOCK$'
expect_eq "MS-Author-Via" "$(hdr MS-Author-Via)" DAV

# Depth 0 and 1 on the root.
dav PROPFIND / -H 'Depth: 0'
expect_eq "PROPFIND / Depth 0" "$code" 207
expect_match "multistatus type" "$(hdr Content-Type)" '^application/xml'
expect_eq "Depth 0: one response" "$(xq 'list(r)')" "['/']"
expect_eq "root is a collection" "$(xq 'r["/"]["ok"]["D:resourcetype"][1]')" "['D:collection']"
dav PROPFIND / -H 'Depth: 1'
expect_eq "Depth 1 on /" "$(xq 'sorted(r)')" "['/', '/movies/', '/tv/']"

# Depth 1 on /movies (no slash): the film with every live property.
dav PROPFIND /movies -H 'Depth: 1'
expect_eq "PROPFIND /movies" "$code" 207
HREF=$(xq '[h for h in r if h != "/movies/"][0]')
expect_eq "collection href gets its slash" "$(xq '"/movies/" in r')" True
expect_match "href percent-encoded" "$HREF" '^/movies/Caf%C3%A9%20%26%20%3CFriends%3E%20100%25%20%282003%29\.mkv$'
curl -s -I -o /dev/null -D "$T/head" "$B$HREF" || fail "HEAD $HREF"
headv() { tr -d '\r' < "$T/head" | awk -v k="$1" -F': ' 'tolower($1)==k{print $2}'; }
p() { xq "r['$HREF']['ok'].get('D:$1', ('<none>',))[0]"; }
expect_eq "getcontentlength" "$(p getcontentlength)" "$SIZE"
expect_eq "getetag = ETag" "$(p getetag)" "$(headv etag)"
expect_eq "getlastmodified = Last-Modified" "$(p getlastmodified)" "$(headv last-modified)"
expect_eq "getcontenttype" "$(p getcontenttype)" video/x-matroska
expect_eq "displayname" "$(p displayname)" "Café & <Friends> 100% (2003).mkv"
expect_match "creationdate (RFC 3339)" "$(p creationdate)" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$'
expect_eq "file resourcetype empty" "$(xq "r['$HREF']['ok']['D:resourcetype']")" "('', [])"
expect_eq "supportedlock" "$(xq "r['$HREF']['ok']['D:supportedlock'][1]")" "['D:lockentry']"
expect_eq "allprop has no 404" "$(xq "r['$HREF']['missing']")" "[]"
expect_eq "dir has no getcontentlength" "$(xq "'D:getcontentlength' in r['/movies/']['ok']")" False

# Bodies: allprop, propname, prop with unknown and missing properties.
dav PROPFIND "$HREF" -H 'Depth: 0' --data-binary '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>'
expect_eq "allprop body" "$(xq "len(r['$HREF']['ok'])")" 9
dav PROPFIND "$HREF" -H 'Depth: 0' --data-binary '<propfind xmlns="DAV:"><propname/></propfind>'
expect_eq "propname" "$(xq "sorted(k for k, v in r['$HREF']['ok'].items() if v == ('', []))")" \
	"['D:creationdate', 'D:displayname', 'D:getcontentlength', 'D:getcontenttype', 'D:getetag', 'D:getlastmodified', 'D:lockdiscovery', 'D:resourcetype', 'D:supportedlock']"
dav PROPFIND /movies/ -H 'Depth: 1' --data-binary '<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:prop>
<D:getcontentlength/><D:resourcetype/><Z:Win32FileAttributes/><D:quota-available-bytes/>
</D:prop></D:propfind>'
expect_eq "prop on a file" "$(xq "sorted(r['$HREF']['ok'])")" "['D:getcontentlength', 'D:resourcetype']"
expect_eq "unknown props 404" "$(xq "sorted(r['$HREF']['missing'])")" \
	"['D:quota-available-bytes', '{urn:schemas-microsoft-com:}Win32FileAttributes']"
expect_eq "a dir's missing length is 404" "$(xq "'D:getcontentlength' in r['/movies/']['missing']")" True
dav PROPFIND "$HREF" --data-binary ''
expect_eq "empty body, no Depth, on a file" "$code" 207

# Depth infinity is refused on collections (and the default when Depth is absent).
for d in "Depth: infinity" "X-No-Depth: 1"; do
	dav PROPFIND /movies/ -H "$d"
	expect_eq "PROPFIND with '$d'" "$code" 403
	expect_match "precondition body" "$(cat "$T/body")" 'propfind-finite-depth'
done
dav PROPFIND /movies/ -H 'Depth: 2'
expect_eq "Depth 2" "$code" 400

# Refused bodies and paths.
dav PROPFIND /movies/ -H 'Depth: 0' --data-binary '<D:propfind xmlns:D="DAV:"><D:prop>'
expect_eq "malformed XML" "$code" 400
expect_match "malformed reason" "$(cat "$T/body")" 'malformed XML'
dav PROPFIND /movies/ -H 'Depth: 0' --data-binary '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&e;</D:displayname></D:prop></D:propfind>'
expect_eq "external entity" "$code" 400
expect_match "no passwd in the answer" "$(cat "$T/body")" '^[^:]*DOCTYPE'
head -c 70000 /dev/zero | tr '\0' ' ' > "$T/big.xml"
dav PROPFIND /movies/ -H 'Depth: 0' --data-binary @"$T/big.xml"
expect_eq "oversized body" "$code" 413
dav PROPFIND /movies/nope.mkv -H 'Depth: 0'
expect_eq "PROPFIND missing" "$code" 404
dav PROPFIND /movies/%2e%2e/ -H 'Depth: 0' --path-as-is
expect_eq "PROPFIND traversal" "$code" 400

# Writes: 403 with a read-only body; other methods 405 with Allow.
for m in PUT DELETE MKCOL COPY MOVE PROPPATCH; do
	dav "$m" "$HREF" -H "Destination: $B/movies/x.mkv" --data-binary ''
	expect_eq "$m refused" "$code" 403
	expect_match "$m says read-only" "$(cat "$T/body")" 'read-only'
done
for m in POST PATCH TRACE; do
	dav "$m" "$HREF" --data-binary ''
	expect_eq "$m" "$code" 405
	expect_match "$m Allow" "$(hdr Allow)" 'PROPFIND'
done

# Locks: a fresh exclusive token, a refresh hands it back, UNLOCK always succeeds.
dav LOCK "$HREF" -H 'Timeout: Second-600' --data-binary '<?xml version="1.0"?>
<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>
<D:locktype><D:write/></D:locktype><D:owner><D:href>mailto:me@example.org</D:href></D:owner></D:lockinfo>'
expect_eq "LOCK" "$code" 200
TOKEN=$(hdr Lock-Token)
expect_match "Lock-Token" "$TOKEN" '^<opaquelocktoken:[0-9a-f-]{36}>$'
"$PY" - "$T/body" "${TOKEN:1:-1}" "$HREF" <<'EOF' || fail "LOCK body: $(cat "$T/body")"
import sys, xml.etree.ElementTree as ET
D = "{DAV:}"
a = ET.parse(sys.argv[1]).getroot().find(D + "lockdiscovery/" + D + "activelock")
assert a.find(D + "locktoken/" + D + "href").text == sys.argv[2]
assert a.find(D + "lockscope/" + D + "exclusive") is not None
assert a.find(D + "depth").text == "0"
assert a.find(D + "timeout").text == "Second-600"
assert a.find(D + "owner/" + D + "href").text == "mailto:me@example.org"
assert a.find(D + "lockroot/" + D + "href").text == sys.argv[3]
EOF
ok
dav LOCK "$HREF" -H "If: ($TOKEN)"
expect_eq "LOCK refresh" "$code" 200
expect_match "refresh keeps the token" "$(cat "$T/body")" "${TOKEN:1:-1}"
dav LOCK /movies/new.mkv --data-binary '<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>'
expect_eq "LOCK of a new resource" "$code" 403
dav UNLOCK "$HREF" -H "Lock-Token: $TOKEN"
expect_eq "UNLOCK" "$code" 204
dav UNLOCK "$HREF"
expect_eq "UNLOCK without token" "$code" 400

# None of this touched the swarm.
m=$(curl -sf "http://127.0.0.1:$GS_METRICS_PORT/metrics") || fail "metrics"
if printf '%s' "$m" | grep -q '"activations"'; then
	expect_eq "no torrent woken by WebDAV" "$(json_get "$m" activations)" 0
fi
gs_stop
note "$checks checks"
echo "PASS: webdav_props"
