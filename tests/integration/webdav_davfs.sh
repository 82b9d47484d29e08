#!/usr/bin/env bash
# webdav_davfs.sh - the kernel mounts the stream port with davfs2 (mount -t davfs): the
# tree and sizes appear as in the library, a film read through the mount (davfs2 GETs
# the whole file into its cache on open) is byte-identical to the source (cmp), and a
# mkdir on the mount fails because the server refuses MKCOL. davfs2 1.6.1 settings from
# TEST-RIG: ask_auth 0, use_locks 0, buf_size 64 (kernels >= 6.16 fail readdir with
# EINVAL otherwise). Needs root and /dev/fuse; skipped (77) with the reason otherwise.
. "$TOP_SRCDIR/tests/lib/common.sh"
command -v mount.davfs > /dev/null || skip_missing "davfs2 missing (apt-get install davfs2)"
[ "$(id -u)" = 0 ] || skip "mount -t davfs needs root"
[ -c /dev/fuse ] || skip "/dev/fuse missing"
id davfs2 > /dev/null 2>&1 || skip_missing "the davfs2 user is missing (davfs2 package not configured)"
gs_need_swarm

mkdir -p "$T/data" "$T/mnt" "$T/cache"
# mount.davfs drops to the davfs2 user, which must create its cache under here.
chmod 755 "$T"
chmod 777 "$T/cache"
"$MKMEDIA" "$T/data/d.mkv" 12 || fail "mkmedia"
SRC="$T/data/d.mkv"
SIZE=$(stat -c %s "$SRC")
h=$(gs_make_torrent "$SRC" 512 "$T/d.torrent")
gs_seed 127.0.0.16 "$T/data" "$T/d.torrent"

gs_config "$T/c.json"
gs_start run --config "$T/c.json"
gs_wait_ready
code=$(curl -s -o "$T/add.out" -w '%{http_code}' -X POST "http://127.0.0.1:$GS_API_PORT/torrents" \
	--data-binary "{\"action\":\"add\",\"link\":\"$T/d.torrent\",\"title\":\"Mounted Film (2015)\",\"category\":\"movie\",\"peers\":[\"$SEED_EP\"]}")
[ "$code" = 200 ] || fail "add: $code $(cat "$T/add.out")"

cat > "$T/davfs2.conf" <<EOF
ask_auth 0
use_locks 0
buf_size 64
cache_dir $T/cache
EOF
timeout -k 5 30 mount -t davfs "http://127.0.0.1:$GS_STREAM_PORT/" "$T/mnt" \
	-o "conf=$T/davfs2.conf" < /dev/null > "$T/mount.out" 2>&1 ||
	skip "mount -t davfs failed here: $(tr '\n' ' ' < "$T/mount.out")"
# Unmount before the temp dir goes (runs on every exit path).
GS_CLEANUPS+=("timeout 20 umount '$T/mnt' 2>/dev/null || umount -l '$T/mnt' 2>/dev/null")

ls "$T/mnt" > "$T/ls" || fail "ls of the mount"
grep -qx movies "$T/ls" || fail "movies/ not in the mount: $(cat "$T/ls")"; ok
FILE="$T/mnt/movies/Mounted Film (2015).mkv"
[ -f "$FILE" ] || fail "film not in the mount: $(ls "$T/mnt/movies")"; ok
expect_eq "size through the mount" "$(stat -c %s "$FILE")" "$SIZE"
t0=$(date +%s%N)
timeout 60 cmp "$FILE" "$SRC" || fail "the film read through davfs2 differs from the source"; ok
note "cmp through davfs2: $(( ($(date +%s%N) - t0) / 1000000 )) ms for $SIZE bytes"
if mkdir "$T/mnt/movies/newdir" 2> /dev/null; then
	fail "mkdir succeeded on the read-only server"
fi
ok
timeout 20 umount "$T/mnt" || fail "umount"
gs_stop
note "$checks checks"
echo "PASS: webdav_davfs"
