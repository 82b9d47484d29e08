#!/usr/bin/env bash
# fuse_nonroot.sh - the FUSE mount run by an unprivileged user (nobody when the test runs
# as root), i.e. through the setuid fusermount3: fuse_allow_other without user_allow_other
# in /etc/fuse.conf fails start-up with a clear message; without allow_other the mount
# works for its user and refuses others; kill -9 leaves a stale mount that the next start
# cleans with fusermount3 -uz (logged); SIGTERM unmounts.
. "$TOP_SRCDIR/tests/lib/common.sh"
[ -c /dev/fuse ] || skip "/dev/fuse missing: FUSE cannot be tested here"
FUSERMOUNT=$(command -v fusermount3) || skip_missing "fusermount3 missing (apt-get install fuse3)"
[ -u "$FUSERMOUNT" ] || skip "$FUSERMOUNT is not setuid root: users cannot mount"

if [ "$(id -u)" = 0 ]; then
	command -v setpriv > /dev/null || skip_missing "setpriv missing (util-linux)"
	AS=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
	chmod 755 "$T"
	mkdir -p "$T/state"
	chown 65534:65534 "$T/state"
else
	AS=()
fi
MNT=$T/state/mnt
is_mounted() { awk -v m="$MNT" '$5 == m && / - fuse/ { f = 1 } END { exit !f }' /proc/self/mountinfo; }
fuse_cleanup() {
	local i
	if [ -n "$GS_PID" ] && kill -0 "$GS_PID" 2> /dev/null; then
		kill -TERM "$GS_PID" 2> /dev/null
		for i in $(seq 50); do kill -0 "$GS_PID" 2> /dev/null || break; sleep 0.1; done
		kill -KILL "$GS_PID" 2> /dev/null
	fi
	if is_mounted; then
		umount -l "$MNT" 2> /dev/null || "${AS[@]}" "$FUSERMOUNT" -uz "$MNT" 2> /dev/null
	fi
	gs_cleanup
}
trap fuse_cleanup EXIT

start_as_user() {
	"${AS[@]}" "$GOSTREAM" run --config "$T/c.json" > "$T/gs.log" 2>&1 &
	GS_PID=$!
	GS_PIDS+=("$GS_PID")
}
wait_mounted() {
	local i
	for i in $(seq 100); do is_mounted && return 0; sleep 0.1; done
	fail "$MNT is not mounted 10 s after start"
}

# allow_other refused by /etc/fuse.conf: start-up fails at once, saying what to change.
if grep -Eq '^[[:space:]]*user_allow_other[[:space:]]*(#.*)?$' /etc/fuse.conf 2> /dev/null; then
	note "/etc/fuse.conf has user_allow_other: the refusal case cannot be shown here"
else
	gs_config "$T/c.json" "\"fuse_mount_path\": \"$MNT\"" '"fuse_allow_other": true'
	start_as_user
	for i in $(seq 200); do kill -0 "$GS_PID" 2> /dev/null || break; sleep 0.1; done
	kill -0 "$GS_PID" 2> /dev/null && fail "start-up did not fail with allow_other refused"
	wait "$GS_PID"
	expect_eq "exit status with allow_other refused" "$?" 1
	grep -q "fuse.conf has no user_allow_other" "$T/gs.log" || fail "no clear allow_other error"; ok
	note "$(grep -m1 -o "fuse: fuse_allow_other.*" "$T/gs.log")"
	is_mounted && fail "mounted although start-up failed"; ok
fi

# libfuse opens /dev/fuse itself before it falls back to fusermount3; some containers
# make the device 0600 root (Debian's udev rule makes it 0666).
if ! "${AS[@]}" sh -c 'exec 3<> /dev/fuse' 2> /dev/null; then
	skip "/dev/fuse is not usable by uid $("${AS[@]}" id -u) here ($(stat -c %A /dev/fuse)):" \
		"the unprivileged mount, kill -9 recovery and unmount cannot be tested"
fi
gs_config "$T/c.json" "\"fuse_mount_path\": \"$MNT\""
start_as_user
gs_wait_ready
wait_mounted
awk -v m="$MNT" '$5 == m' /proc/self/mountinfo | grep -q "user_id=65534\|user_id=$(id -u)" ||
	fail "the mount is not the user's"; ok
expect_eq "the user lists the mount" "$("${AS[@]}" ls "$MNT" | tr '\n' ' ')" "movies tv "
if [ ${#AS[@]} -gt 0 ]; then
	# Without allow_other FUSE refuses every other user, root included.
	err=$(stat "$MNT/movies" 2>&1) && fail "another user reached a mount without allow_other"
	expect_match "other users refused" "$err" "Permission denied"
fi

# kill -9: stale mount; the next start cleans it with fusermount3 and says so.
{ kill -KILL "$GS_PID"; wait "$GS_PID"; } 2> /dev/null
err=$("${AS[@]}" stat -f "$MNT" 2>&1) && fail "the mount point still answers after kill -9"
expect_match "stale mount" "$err" "Transport endpoint is not connected"
start_as_user
gs_wait_ready
wait_mounted
grep -q "stale mount" "$T/gs.log" || fail "no log line about the stale mount"; ok
expect_eq "listing after recovery" "$("${AS[@]}" ls "$MNT" | tr '\n' ' ')" "movies tv "
expect_eq "one mount only" "$(awk -v m="$MNT" '$5 == m' /proc/self/mountinfo | wc -l)" 1

gs_stop TERM 5
is_mounted && fail "still mounted after SIGTERM"; ok
note "$checks checks"
