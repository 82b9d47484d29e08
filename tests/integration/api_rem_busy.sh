#!/usr/bin/env bash
# api_rem_busy.sh - `rem` removes a title whatever reads it, as TorrServer does. With the
# real daemon, a loopback seeder and the FUSE mount:
#  - a Plex media.play webhook starts a resume prefetch (the server's own reader); rem
#    answers 200, `get` 404 at once, and the prefetch hold and its pump are gone;
#  - an HTTP client in the middle of a slow body: its body is cut short (curl exit 18,
#    fewer bytes than the file), within seconds, nothing hangs;
#  - a process holding the file open on the FUSE mount: its next read fails (EIO, or
#    ENOENT when the kernel revalidates the file first), the path is gone, close works;
#  - once every outside reader closed, the engine has let the torrent go: adding it again
#    works and the film streams byte-exact.
. "$TOP_SRCDIR/tests/lib/common.sh"
[ -c /dev/fuse ] || skip "/dev/fuse missing: FUSE cannot be tested here"
[ "$(id -u)" = 0 ] || skip "the FUSE mount here needs root"
gs_need_swarm
WHC="$TOP_SRCDIR/tests/lib/webhook_client.py"

MNT=$T/mnt
rem_cleanup() {
	local i
	[ -n "${FPID:-}" ] && kill -KILL "$FPID" 2>/dev/null
	[ -n "${CPID:-}" ] && kill -KILL "$CPID" 2>/dev/null
	if [ -n "$GS_PID" ] && kill -0 "$GS_PID" 2>/dev/null; then
		kill -TERM "$GS_PID" 2>/dev/null
		for i in $(seq 50); do kill -0 "$GS_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$GS_PID" 2>/dev/null
	fi
	if awk -v m="$MNT" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo; then
		umount -l "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null
	fi
	gs_cleanup
}
trap rem_cleanup EXIT

mkdir -p "$T/data"
SIZE=$((48 << 20))
head -c "$SIZE" /dev/urandom > "$T/data/alpha.mkv"
ha=$(gs_make_torrent "$T/data/alpha.mkv" 1024 "$T/a.torrent")
gs_seed 127.0.0.71 "$T/data" "$T/a.torrent"

gs_config "$T/c.json" "\"fuse_mount_path\": \"$MNT\"" '"webhook_token": "tok"'
gs_start run --config "$T/c.json"
gs_wait_ready
API="http://127.0.0.1:$GS_API_PORT/torrents"
MURL="http://127.0.0.1:$GS_METRICS_PORT"
URL="http://127.0.0.1:$GS_STREAM_PORT/movies/Alpha%20%282001%29.mkv"
FPATH="$MNT/movies/Alpha (2001).mkv"

add() {
	local r
	r=$(curl -s -X POST "$API" -d "{\"action\":\"add\",\"link\":\"$T/a.torrent\",\
\"title\":\"Alpha (2001)\",\"imdb\":\"tt0000071\",\"peers\":[\"$SEED_EP\"]}") || fail "add: curl"
	expect_match "add" "$r" "\"hash\":\"$ha\""
}
api() { curl -s -o "$T/api.out" -w '%{http_code}' -X POST "$API" -d "$1"; }
for i in $(seq 100); do [ -e "$MNT/movies" ] && break; sleep 0.1; done
[ -e "$MNT/movies" ] || fail "the FUSE mount did not come up"

# ---- 1. the server's own reader: a resume prefetch from a Plex media.play ----
add
out=$("$PY" "$WHC" plex "$MURL/plex-webhook?token=tok" media.play title=Alpha imdb=tt0000071 \
	year=2001 view=1800000 dur=3600000) || fail "webhook_client"
expect_match "play answered" "$out" '^200 '
expect_match "prefetch started" "$out" '"prefetch":"started"'
wait_for "any(s['prefetch'] for s in j['streams'] if s['hash']=='$ha')" 5
t0=$(date +%s%N)
code=$(api "{\"action\":\"rem\",\"hash\":\"$ha\"}")
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
expect_eq "rem during a prefetch" "$code $(cat "$T/api.out")" "200 {}"
[ "$ms" -lt 3000 ] || fail "rem took $ms ms with a prefetch running"; ok
code=$(api "{\"action\":\"get\",\"hash\":\"$ha\"}")
expect_eq "get after rem" "$code" 404
code=$(api '{"action":"list"}')
expect_eq "list after rem" "$(cat "$T/api.out")" "[]"
wait_for "not [s for s in j['streams'] if s['hash']=='$ha']" 5
wait_for "not [t for t in j['torrents'] if t['hash']=='$ha']" 5
note "rem with a prefetch running: ${ms} ms; hold and pump gone"

# ---- 2. outside readers: a slow HTTP body and an open FUSE file ----
add
curl -s -o "$T/body" --limit-rate 2M "$URL" & CPID=$!
"$PY" - "$FPATH" "$T/fuse.out" "$T/fuse.go" <<'EOF' & FPID=$!
import errno, os, sys, time
path, out, go = sys.argv[1:4]
fd = os.open(path, os.O_RDONLY)
first = len(os.pread(fd, 1 << 20, 0))
open(out, "w").write("opened %d\n" % first)
for _ in range(300):                 # the test says when rem has been answered
    if os.path.exists(go):
        break
    time.sleep(0.1)
try:
    n = len(os.pread(fd, 1 << 20, 40 << 20))
    res = "read %d" % n
except OSError as e:
    res = "error %s" % errno.errorcode.get(e.errno, e.errno)
try:
    os.stat(path)
    st = "stat ok"
except OSError as e:
    st = "stat %s" % errno.errorcode.get(e.errno, e.errno)
os.close(fd)
open(out, "a").write("%s\n%s\nclosed\n" % (res, st))
EOF
for i in $(seq 100); do grep -q '^opened' "$T/fuse.out" 2>/dev/null && break; sleep 0.1; done
expect_eq "FUSE reader opened" "$(head -n1 "$T/fuse.out" 2>/dev/null)" "opened 1048576"
sleep 2          # the HTTP body is on its way (2 MiB/s of 48 MiB)
kill -0 "$CPID" 2>/dev/null || fail "the slow HTTP reader ended before rem"
code=$(api "{\"action\":\"rem\",\"hash\":\"$ha\"}")
expect_eq "rem with outside readers" "$code $(cat "$T/api.out")" "200 {}"
touch "$T/fuse.go"
t0=$(date +%s)
# what the kernel's socket buffers already hold (up to ~16 MiB on loopback) drains first
for i in $(seq 300); do kill -0 "$CPID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$CPID" 2>/dev/null && fail "the HTTP reader still runs 30 s after rem"
wait "$CPID"; crc=$?; CPID=
got=$(stat -c %s "$T/body")
expect_eq "HTTP body cut short (curl exit 18: partial)" "$crc" 18
[ "$got" -lt "$SIZE" ] || fail "the HTTP reader got the whole file ($got bytes) after rem"; ok
note "HTTP body cut at $got of $SIZE bytes, $(( $(date +%s) - t0 )) s after rem"
cmp -n "$got" "$T/body" "$T/data/alpha.mkv" > /dev/null || fail "the bytes sent before rem differ"; ok
for i in $(seq 100); do kill -0 "$FPID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$FPID" 2>/dev/null && fail "the FUSE reader hangs after rem"
wait "$FPID" || fail "the FUSE reader script failed"; FPID=
# EIO from the read itself, or ENOENT when the kernel first revalidates the (expired)
# attributes of the open file and learns it is gone: either way an error, at once
expect_match "FUSE read after rem" "$(sed -n 2p "$T/fuse.out")" "^error (EIO|ENOENT)$"
expect_eq "FUSE path after rem" "$(sed -n 3p "$T/fuse.out")" "stat ENOENT"
expect_eq "FUSE close" "$(sed -n 4p "$T/fuse.out")" "closed"
grep -q "readers still open get an error" "$T/gs.log" || fail "no log line for a rem with readers"; ok

# ---- 3. the engine let it go: the same torrent comes back and streams ----
wait_for "not [t for t in j['torrents'] if t['hash']=='$ha']" 10
add
curl -sf -o "$T/again" "$URL" || fail "GET after re-add"
cmp "$T/again" "$T/data/alpha.mkv" || fail "bytes after re-add differ"; ok
cmp <(head -c 4096 "$FPATH") <(head -c 4096 "$T/data/alpha.mkv") || fail "FUSE after re-add"; ok

gs_stop TERM 10
echo "api_rem_busy: $checks checks passed"
