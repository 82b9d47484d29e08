#!/usr/bin/env bash
# natpmp_gateway.sh - NAT-PMP against a gateway written for the test (tests/lib/
# natpmp_gateway.py, RFC 6886 over UDP), across a veth link between two network
# namespaces the test makes: ours (gostream, a loopback seeder, the iptables rules on
# gw0, default route via the gateway) and the gateway's (10.99.0.1, gw0p). Checks: a
# silent gateway is an error state while the film streams; the mapping then comes
# (gateway found from gw0's default route), stale and duplicate REDIRECT rules of a
# "previous run" are cleaned up, exactly one rule per protocol remains, the engine's
# listen socket moves live to natpmp.local_port without re-adding the torrent while a
# player streams, and a connection from the gateway's side to the external port reaches
# the engine's socket through the REDIRECT; a port change swaps the rules; an epoch reset is noticed
# and mapped again; an error result code is reported while streaming goes on; a clean
# stop gives both mappings back (lifetime 0) and removes the rules; iptables refusing or
# missing is reported; a restart adds no duplicate rules.
if [ -z "${GS_IN_NETNS:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (network namespaces, iptables)" >&2; exit 77; }
	unshare --net true 2>/dev/null || { echo "SKIP: cannot create a network namespace" >&2; exit 77; }
	GS_IN_NETNS=1 exec unshare --net -- "$BASH" "$0" "$@"
fi
. "$TOP_SRCDIR/tests/lib/common.sh"
gs_need_swarm
command -v iptables > /dev/null || skip "iptables missing (apt-get install iptables)"
command -v nsenter > /dev/null || skip "nsenter (util-linux) missing"
"$GOSTREAM" version | grep -q '^libnatpmp: NAT-PMP port mapping (RFC 6886)' ||
	fail "gostream version does not name the NAT-PMP client"; ok
ip link set lo up
iptables -t nat -S PREROUTING > /dev/null 2>&1 || skip "iptables -t nat does not work here"
ip link add gw0 type veth peer name gw0p 2> /dev/null || skip "cannot make a veth pair"

# The gateway's namespace, held open by a sleeping process of ours.
unshare --net sleep 600 &
GWNS=$!
GS_PIDS+=("$GWNS")
for ((i = 0; i < 100; i++)); do
	[ "$(readlink /proc/$GWNS/ns/net 2> /dev/null)" != "$(readlink /proc/$$/ns/net)" ] &&
		[ -e /proc/$GWNS/ns/net ] && break
	sleep 0.02
done
gwx() { nsenter --net=/proc/$GWNS/ns/net "$@"; }
ip link set gw0p netns "$GWNS" || fail "cannot move gw0p"
ip addr add 10.99.0.2/24 dev gw0 && ip link set gw0 up || fail "gw0 setup"
gwx ip link set lo up
gwx ip addr add 10.99.0.1/24 dev gw0p && gwx ip link set gw0p up || fail "gw0p setup"
ip route add default via 10.99.0.1 dev gw0 || fail "default route"

CTL="$T/gw.json"
GWLOG="$T/gw.log"
ctl() { printf '%s\n' "$1" > "$CTL.tmp" && mv "$CTL.tmp" "$CTL"; }
ctl '{"mode": "silent"}'
# nsenter itself (not the gwx function: a backgrounded function is a subshell whose $!
# would not be the gateway) execs the gateway: $! is its PID.
nsenter --net=/proc/$GWNS/ns/net "$PY" "$TOP_SRCDIR/tests/lib/natpmp_gateway.py" --bind 10.99.0.1:5351 --control "$CTL" \
	--log "$GWLOG" --max-seconds 300 > "$T/gw.out" 2>&1 &
GS_PIDS+=("$!")
for ((i = 0; i < 100; i++)); do grep -q "^READY" "$T/gw.out" 2> /dev/null && break; sleep 0.05; done
grep -q '^READY' "$T/gw.out" || fail "gateway not ready: $(cat "$T/gw.out")"

mkdir -p "$T/data"
"$MKMEDIA" "$T/data/film.mkv" 16 || fail "mkmedia"
SRC="$T/data/film.mkv"
h=$(gs_make_torrent "$SRC" 1024 "$T/film.torrent")
gs_seed 127.0.0.31 "$T/data" "$T/film.torrent"

LP=$(gs_free_port)
GS_ENGINE_EXTRA=', "UseDisk": false'
gs_config "$T/c.json" '"log_level": "debug"' \
	"\"natpmp\": { \"enabled\": true, \"gateway\": \"\", \"vpn_interface\": \"gw0\", \"local_port\": $LP, \"refresh_seconds\": 5, \"lifetime_seconds\": 10 }"
# A previous run that died left a rule for an old port and a duplicate of a current one.
iptables -t nat -A PREROUTING -i gw0 -p tcp --dport 39999 -j REDIRECT --to-port "$LP"
iptables -t nat -A PREROUTING -i gw0 -p udp --dport 40000 -j REDIRECT --to-port "$LP"
iptables -t nat -A PREROUTING -i gw0 -p udp --dport 40000 -j REDIRECT --to-port "$LP"
# A rule that is not ours stays.
iptables -t nat -A PREROUTING -i gw0 -p tcp --dport 5000 -j REDIRECT --to-port 5001

M="http://127.0.0.1"
metrics() { curl -sf "$M:$GS_METRICS_PORT/metrics"; }
metric() { json_get "$(metrics)" "$1"; }
# wait_metric KEY REGEX SECONDS
wait_metric() {
	local i v
	for ((i = 0; i < $3 * 10; i++)); do
		v=$(metric "$1") && printf '%s' "$v" | grep -Eq -- "$2" && { ok; return 0; }
		sleep 0.1
	done
	fail "metric $1 = '$v', want /$2/ within $3 s"
}
# our_rules: the REDIRECT rules to the local port, sorted
our_rules() { iptables -t nat -S PREROUTING | grep -- "--to-ports $LP\$" | sort; }
want_rules() {
	printf -- '-A PREROUTING -i gw0 -p tcp -m tcp --dport %s -j REDIRECT --to-ports %s\n' "$1" "$LP"
	printf -- '-A PREROUTING -i gw0 -p udp -m udp --dport %s -j REDIRECT --to-ports %s\n' "$1" "$LP"
}
listening() { ss -Htln "sport = :$1" | grep -q LISTEN; }
# slow_get URL OUT KIB_PER_S: a player that reads at a set pace with a small receive
# window, so gostream's reader (and the torrent) stays busy until the end: with curl
# --limit-rate the kernel's socket buffers took most of the film at once and the torrent
# went idle (paused: libtorrent then drops incoming peers) while curl was still reading.
# Run it in the background only: it execs, so $! is the player itself.
slow_get() {
	exec "$PY" - "$@" <<'EOF'
import socket, sys, time, urllib.parse
url, out, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]) * 1024
u = urllib.parse.urlsplit(url)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
s.settimeout(60)
s.connect((u.hostname, u.port))
s.sendall(("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (u.path, u.netloc)).encode())
buf, t0 = b"", time.time()
while b"\r\n\r\n" not in buf:
    d = s.recv(4096)
    if not d:
        sys.exit("no headers")
    buf += d
head, body = buf.split(b"\r\n\r\n", 1)
if not head.split(b" ")[1:2] == [b"200"]:
    sys.exit("status: %r" % head[:40])
got = len(body)
with open(out, "wb") as f:
    f.write(body)
    while True:
        d = s.recv(16384)
        if not d:
            break
        f.write(d)
        got += len(d)
        ahead = got / rate - (time.time() - t0)
        if ahead > 0:
            time.sleep(min(ahead, 0.5))
EOF
}
# reach PORT: a TCP connection from the gateway's side to 10.99.0.2:PORT is accepted.
# Only the engine listens on natpmp.local_port (checked with ss -p), so an accepted
# connection to the external port went through the REDIRECT to it. (libtorrent then
# closes it at once while no torrent is downloading, so a BitTorrent handshake would
# depend on the torrent's state, not on the rule.)
reach() {
	gwx "$PY" - "$1" <<'EOF'
import socket, sys
try:
    socket.create_connection(("10.99.0.2", int(sys.argv[1])), timeout=5).close()
except OSError as e:
    print("connect to %s: %s" % (sys.argv[1], e), file=sys.stderr)
    sys.exit(1)
EOF
}

gs_start run --config "$T/c.json"
gs_wait_ready
B="$M:$GS_STREAM_PORT"
code=$(curl -s -o "$T/add.out" -w '%{http_code}' -X POST "$M:$GS_API_PORT/torrents" --data-binary \
	"{\"action\":\"add\",\"link\":\"$T/film.torrent\",\"title\":\"Nat Film (2021)\",\"category\":\"movie\",\"peers\":[\"$SEED_EP\"]}")
[ "$code" = 200 ] || fail "add: $code $(cat "$T/add.out")"
U="$B/stream/$h/0"

# 1. Silent gateway: an error state, and the film streams meanwhile.
curl -sf -r 0-1048575 -o "$T/head" "$U" || fail "read while the gateway is silent"
cmp -s "$T/head" <(head -c 1048576 "$SRC") || fail "head differs"; ok
wait_metric natpmp_state '^error$' 15
expect_match "silent gateway error" "$(metric natpmp_last_error)" 'gateway 10\.99\.0\.1 did not answer'
expect_eq "no port while silent" "$(metric natpmp_port)" 0
listening "$GS_PEER_PORT" || fail "engine not on its configured port $GS_PEER_PORT"; ok
grep -q 'op=1 internal='"$LP"' .*-> silent' "$GWLOG" || fail "no request reached the gateway"; ok
# A player streams the whole film slowly across the mapping and the listen-port move.
acts=$(metric activations)
slow_get "$U" "$T/whole" 1200 &
PLAYER=$!
GS_PIDS+=("$PLAYER")
sleep 1

# 2. The gateway answers: mapped, rules exact, listen port moved live, reachable via EXT.
ctl '{"mode": "ok", "port": 40000}'
wait_metric natpmp_state '^mapped$' 20
expect_eq "external port" "$(metric natpmp_port)" 40000
expect_eq "rules after the first mapping" "$(our_rules)" "$(want_rules 40000)"
iptables -t nat -S PREROUTING | grep -q -- '--dport 5000 -j REDIRECT --to-ports 5001' ||
	fail "a rule that is not ours was removed"; ok
[ "$(metric natpmp_last_refresh)" -gt 0 ] || fail "natpmp_last_refresh not set"; ok
for ((i = 0; i < 50; i++)); do listening "$LP" && break; sleep 0.1; done
listening "$LP" || fail "engine does not listen on natpmp.local_port $LP"; ok
listening "$GS_PEER_PORT" && fail "engine still listens on $GS_PEER_PORT"; ok
grep -q "engine listen port moved to $LP live" "$T/gs.log" || fail "no listen-port log line"; ok
kill -0 "$PLAYER" 2> /dev/null || fail "the player finished before the port move: test too fast"; ok
ss -Htlnp "sport = :$LP" | grep -q '"gostream"' || fail "port $LP is not gostream's: $(ss -Htlnp "sport = :$LP")"; ok
reach 40000 || fail "external port 40000 does not reach the engine through the REDIRECT"; ok
wait "$PLAYER" || fail "the stream across the listen-port move failed"
cmp -s "$T/whole" "$SRC" || fail "film differs after the listen-port move"; ok
expect_eq "one activation for the whole stream (no re-add by the port move)" \
	"$(metric activations)" "$((acts + 1))"
note "mapped 40000/tcp+udp -> $LP; a connection to 40000 reaches the engine"

# 3. The provider moves us to another port: rules follow, the old port is closed.
ctl '{"mode": "ok", "port": 40001}'
wait_metric natpmp_port '^40001$' 15
expect_eq "rules after the port change" "$(our_rules)" "$(want_rules 40001)"
expect_eq "port changes" "$(metric natpmp_port_changes)" 1
grep -q 'external port changed from 40000/40000 to 40001/40001' "$T/gs.log" || fail "no port-change log"; ok
reach 40001 || fail "the new external port does not reach the engine"; ok
reach 40000 2> /dev/null && fail "the old external port still reaches the engine"; ok
grep -q 'op=2 internal='"$LP"' suggested=40000 lifetime=10' "$GWLOG" || fail "refresh did not suggest the held port"; ok

# 4. The gateway restarts (epoch back near 0): noticed, mapped again.
ctl "{\"mode\": \"ok\", \"port\": 40001, \"epoch_start\": $(date +%s)}"
wait_metric natpmp_epoch_resets '^[1-9]' 15
wait_metric natpmp_state '^mapped$' 10
grep -q 'gateway epoch went from [0-9]* to [0-9]* s: it restarted' "$T/gs.log" || fail "no epoch log"; ok

# 5. An error result code: reported, streaming unaffected, rules kept for the old lease.
ctl '{"mode": "error", "result": 2}'
wait_metric natpmp_state '^error$' 15
expect_match "error result" "$(metric natpmp_last_error)" 'refused the (UDP|TCP) mapping of port [0-9]+: not authorized'
curl -sf -r 5000000-5999999 -o "$T/mid" "$U" || fail "read during the gateway error"
cmp -s "$T/mid" <(tail -c +5000001 "$SRC" | head -c 1000000) || fail "range differs"; ok
ctl '{"mode": "error", "result": 4}'
for ((i = 0; i < 150; i++)); do
	metric natpmp_last_error | grep -q 'out of resources' && break
	sleep 0.1
done
expect_match "error result 4" "$(metric natpmp_last_error)" 'refused the (UDP|TCP) mapping of port [0-9]+: nat-pmp server out of resources'
ctl '{"mode": "ok", "port": 40001}'
wait_metric natpmp_state '^mapped$' 20
expect_eq "rules after recovery" "$(our_rules)" "$(want_rules 40001)"

# 6. Clean stop: both mappings given back with lifetime 0, rules gone.
gs_stop TERM 5
grep -q "op=1 internal=$LP suggested=0 lifetime=0 -> result=0 port=0" "$GWLOG" || fail "UDP mapping not given back"; ok
grep -q "op=2 internal=$LP suggested=0 lifetime=0 -> result=0 port=0" "$GWLOG" || fail "TCP mapping not given back"; ok
expect_eq "rules after stop" "$(our_rules)" ""

# 7. iptables refusing (not root): reported; nothing streams worse.
mkdir -p "$T/bin"
printf '#!/bin/sh\necho "iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)" >&2\nexit 4\n' > "$T/bin/iptables"
chmod +x "$T/bin/iptables"
PATH="$T/bin:$PATH" gs_start run --config "$T/c.json"
gs_wait_ready
wait_metric natpmp_state '^error$' 15
expect_match "iptables refusing" "$(metric natpmp_last_error)" 'iptables -t nat -S: exit 4: .*Permission denied'
curl -sf -r 0-99999 -o "$T/h2" "$U" || fail "read while iptables refuses"
cmp -s "$T/h2" <(head -c 100000 "$SRC") || fail "head differs (iptables refusing)"; ok
gs_stop TERM 5
# ... and iptables not installed at all.
mkdir -p "$T/nobin"
PATH="$T/nobin" gs_start run --config "$T/c.json"
gs_wait_ready
wait_metric natpmp_state '^error$' 15
expect_match "iptables missing" "$(metric natpmp_last_error)" '^iptables not found in PATH \(install the iptables package\)$'
gs_stop TERM 5

# 8. A restart with the gateway's address given: mapped again, still one rule each.
sed -i 's/"gateway": ""/"gateway": "10.99.0.1"/' "$T/c.json"
gs_start run --config "$T/c.json"
gs_wait_ready
wait_metric natpmp_state '^mapped$' 15
expect_eq "rules after a restart" "$(our_rules)" "$(want_rules 40001)"
gs_stop TERM 5
expect_eq "rules after the last stop" "$(our_rules)" ""
note "$checks checks"
