# bt_testlib.sh - helpers for the engine_*.sh tests (sourced, bash): temp dir, loopback
# seeders (tests/lib/seeder.py on python3-libtorrent), the bt_driver program, JSON checks.
# Every wait is bounded; only PIDs started here are signalled; 127.0.0.x addresses only.

: "${TOP_SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
PY=/usr/bin/python3
SEEDER="$TOP_SRCDIR/tests/lib/seeder.py"

bt_fail() { echo "FAIL: $*" >&2; exit 1; }
bt_skip() {   # a missing package or build part: see skip_missing in common.sh
	if [ -n "${GS_NO_SKIP:-}" ]; then
		echo "FAIL: this test would be skipped, which the test command does not allow: $*" >&2
		exit 1
	fi
	echo "SKIP: $*" >&2
	exit 77
}
bt_note() { echo "# $*" >&2; }

# The driver: $BT_DRIVER, or next to this script in the build tree.
if [ -z "${BT_DRIVER:-}" ]; then
	for c in "${BUILD_DIR:-.}/tests/integration/bt_driver" "$(dirname "$0")/bt_driver"; do
		[ -x "$c" ] && BT_DRIVER=$c && break
	done
fi
[ -n "${BT_DRIVER:-}" ] && [ -x "$BT_DRIVER" ] || bt_skip "bt_driver not built (set BT_DRIVER)"
"$PY" -c 'import libtorrent' 2>/dev/null || bt_skip "python3-libtorrent missing for /usr/bin/python3"

T=$(mktemp -d /tmp/gs-bt.XXXXXX)
BT_PIDS=()
bt_cleanup() {
	local p
	for p in "${BT_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${BT_PIDS[@]}"; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
	done
	rm -rf "$T"
}
trap bt_cleanup EXIT

# bt_make_torrent SRC PIECE_KIB OUT -> prints the info-hash
bt_make_torrent() {
	"$PY" "$SEEDER" --make-torrent "$1" --piece-kib "$2" --out "$3" || bt_fail "making $3"
}

# bt_seeder_exec ARGS... : becomes seeder.py (exec: the caller's $! is the seeder's PID),
# its uploads capped at BT_SEED_UPLOAD_KIB KiB/s when that is set. Every peer of a
# loopback seeder is "local", and libtorrent exempts local peers from the session's rate
# limits: the cap goes on the local peer class, by a wrapper that makes seeder.py's
# sessions throttled ones.
bt_seeder_exec() {
	[ -n "${BT_SEED_UPLOAD_KIB:-}" ] || exec "$PY" "$SEEDER" "$@"
	exec "$PY" - "$SEEDER" "$@" <<'EOF'
import os, runpy, sys
import libtorrent as lt
limit = int(os.environ["BT_SEED_UPLOAD_KIB"]) * 1024
class throttled(lt.session):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        pc = self.get_peer_class(lt.session.local_peer_class_id)
        pc["upload_limit"] = limit
        self.set_peer_class(lt.session.local_peer_class_id, pc)
lt.session = throttled
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
EOF
}

# bt_seed IP DATA_DIR [seeder.py options...] TORRENT... -> sets SEED_EP=ip:port
# (with BT_SEED_UPLOAD_KIB=N in the environment it uploads at most N KiB/s, see above)
bt_seed() {
	local ip=$1 data=$2 out
	shift 2
	out=$(mktemp "$T/seed.XXXXXX")
	bt_seeder_exec --data "$data" --bind "$ip:0" --max-seconds 300 "$@" > "$out" 2> "$out.err" &
	BT_PIDS+=("$!")
	local pid=$! i
	for ((i = 0; i < 300; i++)); do
		grep -q '^READY ' "$out" && break
		kill -0 "$pid" 2>/dev/null || { cat "$out.err" >&2; bt_fail "seeder on $ip died"; }
		sleep 0.1
	done
	grep -q '^READY ' "$out" || bt_fail "seeder on $ip not ready within 30 s"
	SEED_EP=$(awk '/^READY /{print $2; exit}' "$out")
}

# bt_forget_pid PID : a process of ours that is gone already (stopped by the test): not
# signalled at exit, where its PID may belong to someone else by then
bt_forget_pid() {
	local p keep=()
	for p in "${BT_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	BT_PIDS=("${keep[@]}")
}

# bt_run OUTJSON ARGS... : runs the driver (60 s cap), JSON to OUTJSON, stderr to OUTJSON.err
bt_run() {
	local out=$1 rc=0
	shift
	timeout -k 5 90 "$BT_DRIVER" "$@" > "$out" 2> "$out.err" || rc=$?
	if [ "$rc" -ge 124 ]; then
		cat "$out.err" >&2
		bt_fail "bt_driver killed or timed out (status $rc): $*"
	fi
	if grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$out.err"; then
		cat "$out.err" >&2
		bt_fail "sanitizer report from bt_driver: $*"
	fi
	return "$rc"
}

# bt_json FILE EXPR : evaluates a python expression on the JSON object j
bt_json() {
	"$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# bt_expect FILE EXPR DESCRIPTION : EXPR must be true
bt_expect() {
	local v
	v=$(bt_json "$1" "$2") || bt_fail "cannot evaluate $2 on $1"
	[ "$v" = True ] || { cat "$1" >&2; bt_fail "$3 ($2)"; }
}

# bt_expect_rss OUTJSON LIMIT_MB WHAT : the driver's RSS growth (rss_max_kb - rss_base_kb)
# stayed under LIMIT_MB; skipped for sanitizer builds (AddressSanitizer's quarantine keeps
# freed blocks resident: the bound holds for real builds).
bt_expect_rss() {
	if ldd "$BT_DRIVER" 2>/dev/null | grep -q libasan; then
		bt_note "sanitizer build: RSS bound not checked"
	else
		bt_expect "$1" "j['rss_max_kb'] - j['rss_base_kb'] < $2 * 1024" "RSS grew more than $2 MB $3"
	fi
}

# bt_ranges SIZE COUNT PIECE SEED LIST : random ranges, a third of them across piece
# boundaries, plus the first and last bytes and one running past EOF.
bt_ranges() {
	"$PY" - "$@" <<'EOF'
import random, sys
size, count, piece, seed, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
r = random.Random(seed)
rs = [(0, 1), (size - 1, 1), (max(0, size - 1000), 5000)]
while len(rs) < count:
    k = r.random()
    if k < 0.35:
        b = r.randrange(piece, size, piece) if size > piece else 0
        off = max(0, b - r.randint(1, 40000))
        ln = r.randint(1, 120000)
    elif k < 0.5:
        off = r.randrange(0, size)
        ln = r.randint(1, 3 * piece)
    else:
        off = r.randrange(0, size)
        ln = r.randint(1, 70000)
    rs.append((off, ln))
with open(out, "w") as f:
    for o, l in rs:
        f.write("%d %d\n" % (o, l))
EOF
}

# bt_expected SRC LIST OUT : the bytes the ranges of LIST should give, concatenated
bt_expected() {
	"$PY" - "$@" <<'EOF'
import sys
src, lst, out = sys.argv[1:4]
data = open(src, "rb").read()
with open(out, "wb") as o:
    for line in open(lst):
        off, ln = map(int, line.split())
        o.write(data[off:off + ln])
EOF
}

bt_sha() { sha256sum "$1" | cut -d' ' -f1; }
