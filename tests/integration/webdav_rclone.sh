#!/usr/bin/env bash
# webdav_rclone.sh - rclone's webdav backend (vendor "other") pointed at the stream port:
# `rclone lsf -R` lists the library with exact sizes, `rclone cat --offset --count` reads
# slices (start, across pieces, the tail) byte-exact, `rclone cat` of the whole file
# matches the source, and a write (`rclone mkdir`) fails on the read-only server.
. "$TOP_SRCDIR/tests/lib/common.sh"
command -v rclone > /dev/null || skip_missing "rclone missing (apt-get install rclone)"
gs_need_swarm

mkdir -p "$T/data"
"$MKMEDIA" "$T/data/r.mkv" 16 || fail "mkmedia"
SRC="$T/data/r.mkv"
SIZE=$(stat -c %s "$SRC")
h=$(gs_make_torrent "$SRC" 512 "$T/r.torrent")
gs_seed 127.0.0.15 "$T/data" "$T/r.torrent"

gs_config "$T/c.json"
gs_start run --config "$T/c.json"
gs_wait_ready
code=$(curl -s -o "$T/add.out" -w '%{http_code}' -X POST "http://127.0.0.1:$GS_API_PORT/torrents" \
	--data-binary "{\"action\":\"add\",\"link\":\"$T/r.torrent\",\"title\":\"Rclone Film (2012)\",\"category\":\"movie\",\"peers\":[\"$SEED_EP\"]}")
[ "$code" = 200 ] || fail "add: $code $(cat "$T/add.out")"

export RCLONE_CONFIG="$T/rclone.conf"
cat > "$RCLONE_CONFIG" <<EOF
[gs]
type = webdav
url = http://127.0.0.1:$GS_STREAM_PORT/
vendor = other
EOF
rc() { timeout -k 5 40 rclone --retries 1 --low-level-retries 1 --contimeout 5s --timeout 30s "$@"; }

rc lsf -R --format ps gs: > "$T/lsf" 2> "$T/lsf.err" || fail "rclone lsf: $(cat "$T/lsf.err")"
note "rclone lsf -R: $(tr '\n' ' ' < "$T/lsf")"
grep -q '^movies/;' "$T/lsf" || fail "movies/ not listed"; ok
grep -q '^tv/;' "$T/lsf" || fail "tv/ not listed"; ok
FILE=$(sed -n 's/^\(movies\/[^;]*\.mkv\);\([0-9]*\)$/\1/p' "$T/lsf")
[ -n "$FILE" ] || fail "no film listed"; ok
expect_eq "size listed" "$(grep -F "$FILE;" "$T/lsf" | cut -d';' -f2)" "$SIZE"

slice() { "$PY" -c 'import sys; f=open(sys.argv[1],"rb"); f.seek(int(sys.argv[2])); sys.stdout.buffer.write(f.read(int(sys.argv[3])))' "$SRC" "$1" "$2"; }
for spec in "0 1000" "524000 2000" "3000000 1048576" "$((SIZE - 777)) 777"; do
	set -- $spec
	rc cat --offset "$1" --count "$2" "gs:$FILE" > "$T/part" 2> "$T/cat.err" ||
		fail "rclone cat --offset $1 --count $2: $(cat "$T/cat.err")"
	slice "$1" "$2" > "$T/want"
	cmp -s "$T/part" "$T/want" || fail "rclone cat --offset $1 --count $2 differs"; ok
done
rc cat "gs:$FILE" > "$T/whole" 2> "$T/cat.err" || fail "rclone cat: $(cat "$T/cat.err")"
cmp -s "$T/whole" "$SRC" || fail "whole file via rclone differs"; ok

if rc mkdir gs:movies/newdir > /dev/null 2>&1; then
	fail "rclone mkdir succeeded on a read-only server"
fi
ok
gs_stop
note "$checks checks"
echo "PASS: webdav_rclone"
