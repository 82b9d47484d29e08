#!/usr/bin/env bash
# fuse_mount.sh - the FUSE mount of the library through the real daemon, engine and a
# loopback seeder: titles added/removed through the API show up and go away at once
# (entry/attr timeouts are 60 s here, so only invalidation can do it), lookup and readdir
# agree on inodes, sizes exact, statfs, whole-file cmp, dd skip= at random offsets and
# across EOF, ffprobe on the mounted path, 8 concurrent readers, write operations fail
# with EROFS, xattrs are empty (getxattr EOPNOTSUPP), a read of a stalled torrent fails within the engine's
# bound instead of hanging, a FUSE interrupt ends a waiting read at once, a reader killed
# mid-read leaves the mount responsive, a stop with a read in flight cancels it at once,
# ls -liR is identical across a clean restart and across kill -9 + restart (whose stale
# mount is detected, cleaned and logged).
. "$TOP_SRCDIR/tests/lib/common.sh"
[ -c /dev/fuse ] || skip "/dev/fuse missing: FUSE cannot be tested here"
gs_need_swarm
command -v ffprobe >/dev/null || skip_missing "ffprobe missing"

MNT=$T/mnt
# The mount is taken down before common.sh's cleanup kills PIDs and removes $T (which
# must never recurse into a live mount).
fuse_cleanup() {
	local i
	if [ -n "$GS_PID" ] && kill -0 "$GS_PID" 2>/dev/null; then
		kill -TERM "$GS_PID" 2>/dev/null
		for i in $(seq 50); do kill -0 "$GS_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$GS_PID" 2>/dev/null
	fi
	if is_mounted || ! stat "$MNT" > /dev/null 2>&1; then
		umount -l "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null
	fi
	gs_cleanup
}
trap fuse_cleanup EXIT

is_mounted() { awk -v m="$MNT" '$5 == m && / - fuse/ { f = 1 } END { exit !f }' /proc/self/mountinfo; }
wait_mounted() {
	local i
	for i in $(seq 100); do is_mounted && return 0; sleep 0.1; done
	fail "$MNT is not mounted 10 s after start"
}
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }
# until_ok SECONDS CMD...: polls CMD every 0.1 s; prints the seconds it took.
until_ok() {
	local secs=$1 i t0=$(date +%s.%N)
	shift
	for ((i = 0; i < secs * 10; i++)); do
		"$@" > /dev/null 2>&1 && { since "$t0"; return 0; }
		sleep 0.1
	done
	return 1
}
add() {   # add TORRENT TITLE PEER -> prints the hash
	curl -sf -X POST "http://127.0.0.1:$GS_API_PORT/torrents" -d "{\"action\":\"add\",\
\"link\":\"$1\",\"title\":\"$2\",\"category\":\"movie\",\"peers\":[\"$3\"]}" |
		"$PY" -c 'import json,sys; print(json.load(sys.stdin)["hash"])' || fail "add $2"
}
tree() { ls -liR --time-style=+%s "$MNT"; }

mkdir -p "$T/data" "$T/stall"
"$MKMEDIA" "$T/data/film.mkv" 64 || fail "mkmedia"
SRC=$T/data/film.mkv
SIZE=$(stat -c %s "$SRC")
gs_make_torrent "$SRC" 1024 "$T/film.torrent" > /dev/null
head -c $((16 << 20)) /dev/urandom > "$T/stall/stall.mkv"
gs_make_torrent "$T/stall/stall.mkv" 1024 "$T/stall.torrent" > /dev/null
gs_seed 127.0.0.61 "$T/data" "$T/film.torrent"

GS_ENGINE_EXTRA=', "ReadTimeoutSeconds": 4'
gs_config "$T/c.json" "\"fuse_mount_path\": \"$MNT\"" '"attr_timeout": 60' '"entry_timeout": 60'
gs_start run --config "$T/c.json"
gs_wait_ready
wait_mounted
until_ok 5 grep -q "fuse: mounted" "$T/gs.log" > /dev/null || fail "no mount line in the log"; ok

# Empty library; the misses below are cached by the kernel for entry_timeout (60 s).
expect_eq "root listing" "$(ls "$MNT" | tr '\n' ' ')" "movies tv "
FILM="$MNT/movies/Film (2020).mkv"
STALL="$MNT/movies/Stall (2021).mkv"
stat "$FILM" > /dev/null 2>&1 && fail "a file before any add"
stat "$STALL" > /dev/null 2>&1
expect_eq "empty movies" "$(ls -A "$MNT/movies")" ""

add "$T/film.torrent" "Film (2020)" "$SEED_EP" > /dev/null
# Nothing listens on 127.0.0.1:9: this torrent never gets a byte.
SHASH=$(add "$T/stall.torrent" "Stall (2021)" "127.0.0.1:9")
took=$(until_ok 5 stat "$FILM") || fail "an added title is not visible within 5 s (invalidation)"
note "added title visible after ${took}s (entry_timeout 60 s)"
until_ok 5 stat "$STALL" > /dev/null || fail "second title not visible"
expect_eq "listing after add" "$(ls "$MNT/movies" | tr '\n' '|')" "Film (2020).mkv|Stall (2021).mkv|"

# Attributes; lookup (stat) and readdir (ls -i) agree on inodes.
expect_eq "size" "$(stat -c %s "$FILM")" "$SIZE"
expect_eq "stall size" "$(stat -c %s "$STALL")" $((16 << 20))
expect_eq "mode" "$(stat -c %A "$FILM")" "-rw-r--r--"
expect_eq "readdir vs lookup inode" "$(ls -i "$MNT/movies" | awk 'NR==1{print $1}')" \
	"$(stat -c %i "$FILM")"
expect_eq "root inode" "$(stat -c %i "$MNT")" 1
read -r blocks frsize free avail <<< "$(stat -f -c '%b %S %f %a' "$MNT")"
[ $((blocks * frsize)) -ge $((SIZE + (16 << 20))) ] || fail "statfs size $((blocks * frsize))"; ok
expect_eq "statfs free" "$free/$avail" "0/0"

# Whole file, random ranges with dd skip=, a read across EOF, ffprobe.
t0=$(date +%s.%N)
cmp "$FILM" "$SRC" || fail "whole-file cmp through the mount"; ok
note "cold cmp of $((SIZE >> 20)) MiB: $(since "$t0") s"
for i in $(seq 24); do
	off=$(( (RANDOM * 32768 + RANDOM) % SIZE ))
	len=$(( (RANDOM % 2048 + 1) * 1024 ))
	cmp <(dd if="$FILM" iflag=skip_bytes,count_bytes skip=$off count=$len bs=256K status=none) \
	    <(dd if="$SRC" iflag=skip_bytes,count_bytes skip=$off count=$len bs=256K status=none) ||
		fail "dd skip=$off count=$len differs"
	ok
done
expect_eq "read across EOF" \
	"$(dd if="$FILM" iflag=skip_bytes skip=$((SIZE - 1000)) bs=1M count=1 status=none | wc -c)" 1000
probe=$(ffprobe -v error -show_entries format=format_name,duration -of default=nw=1 "$FILM") ||
	fail "ffprobe on the mount"
expect_match "ffprobe" "$probe" "format_name=matroska"
expect_match "ffprobe duration" "$probe" "duration=[1-9][0-9]"

# Read-only: every write fails with EROFS; no xattrs.
"$PY" - "$FILM" <<'PYEOF' || fail "write operations"
import errno, os, stat, sys
p = sys.argv[1]; d = os.path.dirname(p)
ops = {
    "open O_WRONLY": lambda: os.open(p, os.O_WRONLY),
    "open O_RDWR": lambda: os.open(p, os.O_RDWR),
    "open O_TRUNC": lambda: os.open(p, os.O_RDONLY | os.O_TRUNC),
    "create": lambda: os.open(os.path.join(d, "new.mkv"), os.O_WRONLY | os.O_CREAT, 0o644),
    "unlink": lambda: os.unlink(p),
    "rmdir": lambda: os.rmdir(d),
    "mkdir": lambda: os.mkdir(os.path.join(d, "x")),
    "rename": lambda: os.rename(p, p + ".x"),
    "link": lambda: os.link(p, p + ".l"),
    "symlink": lambda: os.symlink("x", os.path.join(d, "s")),
    "mknod": lambda: os.mknod(os.path.join(d, "fifo"), 0o600 | stat.S_IFIFO),
    "truncate": lambda: os.truncate(p, 0),
    "chmod": lambda: os.chmod(p, 0o600),
    "utime": lambda: os.utime(p, (0, 0)),
    "setxattr": lambda: os.setxattr(p, "user.x", b"1"),
    "removexattr": lambda: os.removexattr(p, "user.x"),
}
bad = 0
for name, op in ops.items():
    try:
        op()
        print(f"{name}: succeeded", file=sys.stderr); bad += 1
    except OSError as e:
        if e.errno != errno.EROFS:
            print(f"{name}: {errno.errorcode.get(e.errno)}, want EROFS", file=sys.stderr); bad += 1
# No xattrs: gostream answers getxattr ENOSYS once and the kernel then answers EOPNOTSUPP
# itself (no round trip per `ls -l` entry), or ENODATA for the POSIX ACL names, which it
# maps to "no ACL"; listxattr says there are none.
for name in ("user.x", "security.selinux", "system.posix_acl_access", "user.DOSATTRIB"):
    try:
        os.getxattr(p, name); print(f"getxattr {name} succeeded", file=sys.stderr); bad += 1
    except OSError as e:
        if e.errno not in (errno.EOPNOTSUPP, errno.ENODATA):
            print(f"getxattr {name}: {errno.errorcode.get(e.errno)}, want EOPNOTSUPP",
                  file=sys.stderr); bad += 1
if os.listxattr(p) != []:
    print("listxattr not empty", file=sys.stderr); bad += 1
sys.exit(1 if bad else 0)
PYEOF
ok

# 8 concurrent readers, the file's page cache dropped first so they all reach the daemon.
drop_cache() {
	"$PY" -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$1"
}
drop_cache "$FILM"
t0=$(date +%s.%N)
pids=()
for i in $(seq 8); do
	timeout 120 cmp "$FILM" "$SRC" & pids+=($!); GS_PIDS+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent reader failed (status $?)"; ok; done
note "8 concurrent readers: $(since "$t0") s"

# A stalled torrent: the read fails within the engine's bound (4 s), never hangs or EOFs.
t0=$(date +%s)
out=$(timeout 30 dd if="$STALL" of=/dev/null bs=1M count=1 2>&1) &&
	fail "a read of a stalled torrent succeeded"
rc=$?
[ "$rc" != 124 ] || fail "a read of a stalled torrent hung for 30 s"; ok
expect_match "stalled read error" "$out" "timed out|Input/output error"
note "stalled read failed after $(( $(date +%s) - t0 )) s: $(echo "$out" | head -n1)"

# A FUSE interrupt cancels the wait. Page-cache readahead is never interrupted (the kernel
# waits for it killably), but once it failed (after 4 s) the kernel retries the page with
# a synchronous read, which a signal interrupts: the reader must be back at once, not
# after the second 4 s.
"$PY" - "$STALL" > "$T/intr.out" 2>&1 <<'PYEOF' & rd=$!; GS_PIDS+=($rd)
import os, signal, sys, time
class Stop(Exception):
    pass
def stop(*_):
    raise Stop()          # not retried (PEP 475 retries only when the handler returns)
signal.signal(signal.SIGINT, stop)
fd = os.open(sys.argv[1], os.O_RDONLY)
t0 = time.time()
try:
    os.pread(fd, 1 << 20, 4 << 20)
    print("read succeeded")
except Stop:
    print("interrupted after %.1f" % (time.time() - t0))
except OSError as e:
    print("%s after %.1f" % (e, time.time() - t0))
PYEOF
sleep 5.5
kill -INT "$rd"
for i in $(seq 50); do kill -0 "$rd" 2>/dev/null || break; sleep 0.1; done
wait "$rd"
out=$(cat "$T/intr.out")
note "reader signalled at 5.5 s during the synchronous retry: $out"
expect_match "interrupted read" "$out" "^interrupted after (5|6)\\."

# A reader killed mid-read (blocked on the stalled torrent) goes at once and the mount
# stays responsive.
dd if="$STALL" of=/dev/null bs=1M skip=8 count=1 status=none 2>/dev/null & rd=$!; GS_PIDS+=($rd)
sleep 1
kill -0 "$rd" 2>/dev/null || fail "the stalled reader did not block"
{
	kill -KILL "$rd"
	for i in $(seq 20); do kill -0 "$rd" || break; sleep 0.1; done
	kill -0 "$rd" && fail "a reader killed mid-read is still there after 2 s"
	wait "$rd"
} 2> /dev/null
ok
timeout 3 stat "$FILM" > /dev/null || fail "stat after killing a reader"; ok
drop_cache "$FILM"
timeout 10 cmp "$FILM" "$SRC" || fail "reading after killing a reader"; ok

# A stop while a reader waits on the swarm (its wait would last ~4 s more): the read is
# cancelled, the reader gets an error, the daemon is gone well within 3 s.
before=$(tree)
dd if="$STALL" of=/dev/null bs=1M skip=12 count=1 status=none 2>/dev/null & rd=$!; GS_PIDS+=($rd)
sleep 0.5
kill -0 "$rd" 2>/dev/null || fail "the second stalled reader did not block"
t0=$(date +%s.%N)
gs_stop TERM 3
note "stop with a read in flight: $(since "$t0") s; $(grep -o "fuse: unmounted.*" "$T/gs.log")"
for i in $(seq 20); do kill -0 "$rd" 2>/dev/null || break; sleep 0.1; done
wait "$rd" && fail "a read cut by the stop succeeded"; ok
grep -Eq "fuse: unmounted .* [1-9][0-9]* interrupted" "$T/gs.log" ||
	fail "the in-flight read was not cancelled"; ok
is_mounted && fail "still mounted after SIGTERM"; ok
grep -q "fuse: unmounted" "$T/gs.log" || fail "no unmount line"; ok

# Clean restart: same tree, same inodes, same times.
gs_start run --config "$T/c.json"
gs_wait_ready
wait_mounted
expect_eq "ls -liR across a restart" "$(tree)" "$before"

# kill -9 with a client holding a file open: the mount point is left stale; the next
# start detects it, lazily unmounts it, says so, and mounts again with the same inodes.
exec 7< "$FILM"
{ kill -KILL "$GS_PID"; wait "$GS_PID"; } 2> /dev/null
# statfs always asks the server (stat may answer from attributes cached for 60 s).
err=$(stat -f "$MNT" 2>&1) && fail "the mount point still answers after kill -9"
expect_match "stale mount" "$err" "Transport endpoint is not connected"
cat <&7 > /dev/null 2>&1 && fail "a file held open across kill -9 still reads"
exec 7<&-
gs_start run --config "$T/c.json"
gs_wait_ready
wait_mounted
grep -q "stale mount" "$T/gs.log" || fail "no log line about the stale mount"; ok
note "$(grep -m1 "stale mount" "$T/gs.log")"
expect_eq "ls -liR across kill -9" "$(tree)" "$before"
cmp "$FILM" "$SRC" || fail "cmp after kill -9 + restart"; ok

# Removal through the API: gone from the mount at once (timeouts are 60 s).
curl -sf -X POST "http://127.0.0.1:$GS_API_PORT/torrents" \
	-d "{\"action\":\"rem\",\"hash\":\"$SHASH\"}" > /dev/null || fail "rem"
took=$(until_ok 5 sh -c "! stat '$STALL' && ! ls '$MNT/movies' | grep -q Stall") ||
	fail "a removed title is still visible after 5 s"
note "removed title gone after ${took}s"
expect_eq "listing after rem" "$(ls "$MNT/movies")" "Film (2020).mkv"

gs_stop TERM 5
is_mounted && fail "still mounted after the last stop"; ok
note "$checks checks"
