#!/usr/bin/env bash
# daemon_lifecycle.sh - the real daemon starts on free loopback ports, answers, reopens its
# log on SIGHUP, stops cleanly on SIGTERM and SIGINT within 2 s, and refuses to start with
# a clear message when a port is taken or the state folder cannot be made.
. "$TOP_SRCDIR/tests/lib/common.sh"

gs_config "$T/c.json" "\"log_file\": \"$T/gostream.log\""
gs_start run --config "$T/c.json"
gs_wait_ready
h=$(curl -sf "http://127.0.0.1:$GS_METRICS_PORT/health") || fail "/health"
expect_match "health" "$h" '"status":"ok"'
m=$(curl -sf "http://127.0.0.1:$GS_METRICS_PORT/metrics") || fail "/metrics"
expect_match "metrics config_source" "$m" "\"config_source\":\"$T/c.json\""
expect_match "metrics version" "$m" '"version":"[0-9.]+"'
expect_eq "echo" "$(curl -sf "http://127.0.0.1:$GS_API_PORT/echo")" "$("$GOSTREAM" version | sed -n 's/^gostream //p')"
code=$(curl -s -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$GS_API_PORT/nope")
expect_eq "unknown path" "$code" 404
expect_match "unknown path body" "$(cat "$T/body")" '"error":"no such path: /nope"'
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "http://127.0.0.1:$GS_METRICS_PORT/health")
expect_eq "wrong method" "$code" 405
[ -d "$T/state" ] || fail "state_dir not created"; ok
expect_eq "state_dir mode" "$(stat -c %a "$T/state")" 700

# SIGHUP reopens the log file (logrotate moves it away first).
grep -q "starting" "$T/gostream.log" || fail "log_file not written"
mv "$T/gostream.log" "$T/gostream.log.1"
kill -HUP "$GS_PID"
for ((i = 0; i < 100; i++)); do [ -s "$T/gostream.log" ] && break; sleep 0.02; done
grep -q "log file reopened" "$T/gostream.log" || fail "no new log file after SIGHUP"; ok
gs_stop TERM 2
grep -q "stopped cleanly" "$T/gostream.log" || fail "no clean-stop line"; ok

# SIGINT too (Ctrl-C in a terminal).
gs_start run --config "$T/c.json"
gs_wait_ready
gs_stop INT 2

# A port already in use: exit 1 with the port named, nothing left running.
"$PY" -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); time.sleep(30)' "$GS_API_PORT" &
holder=$!; GS_PIDS+=("$holder")
for ((i = 0; i < 100; i++)); do
	"$PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' \
		"$GS_API_PORT" 2>/dev/null && break
	sleep 0.05
done
timeout 10 "$GOSTREAM" run --config "$T/c.json" > "$T/busy.log" 2>&1; rc=$?
kill "$holder"
expect_eq "busy port status" "$rc" 1
expect_match "busy port message" "$(cat "$T/busy.log")" "cannot listen on api port 127.0.0.1:$GS_API_PORT"

# A state folder that cannot be created.
touch "$T/afile"
gs_config "$T/c2.json"
sed -i "s|\"state_dir\": \"[^\"]*\"|\"state_dir\": \"$T/afile/state\"|" "$T/c2.json"
timeout 10 "$GOSTREAM" run --config "$T/c2.json" > "$T/st.log" 2>&1; rc=$?
expect_eq "bad state_dir status" "$rc" 1
expect_match "bad state_dir message" "$(cat "$T/st.log")" "state_dir $T/afile/state: cannot create"
note "$checks checks"
